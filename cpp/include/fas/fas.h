/* fas.h: the plain C face of the fasgo shim (libfasshim).
 *
 * Rules of this interface:
 * - Opaque handles; no torch or C++ types; no C++ exception ever crosses it.
 * - Every fallible call returns a fas_status*: NULL means success, otherwise the caller reads
 *   its code and message and frees it with fas_status_free.
 * - Arrays passed in are borrowed for the duration of the call only.
 * - Method-neutral: a model is built from a method name ("anrl") and its settings (key =
 *   value text); batches are named tensors, step results named scalars, outputs named
 *   tensors. What each method's names mean is its documentation's business (docs/).
 * - Thread safety: a fas_model allows concurrent eval-mode forwards and scores; every other
 *   call on a model (train-mode forward, import, export) and every trainer call serialise on
 *   the model's own lock. A trainer keeps its model alive (freeing the model handle first is
 *   safe).
 * - Threads: a model's calls run libtorch with the model's thread count (fas_model_config
 *   .threads); nothing changes process-wide state unless fas_set_num_threads is called.
 */
#ifndef FAS_FAS_H
#define FAS_FAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface: bumped on every incompatible change. A caller compares
 * fas_abi_version() with the FAS_ABI_VERSION it was compiled against. */
#define FAS_ABI_VERSION 3
int fas_abi_version(void);

/* ---- status ------------------------------------------------------------------------- */
typedef enum {
  FAS_OK = 0,
  FAS_ERR_INVALID_ARGUMENT = 1, /* null/closed handle, wrong shape, bad value */
  FAS_ERR_NOT_FOUND = 2,        /* unknown tensor name */
  FAS_ERR_OUT_OF_MEMORY = 3,    /* std::bad_alloc, CUDA OOM */
  FAS_ERR_TORCH = 4,            /* c10::Error from libtorch */
  FAS_ERR_NONFINITE = 5,        /* NaN/Inf in an input, a loss or a gradient */
  FAS_ERR_INTERNAL = 6          /* anything else */
} fas_code;

typedef struct fas_status fas_status;
fas_code fas_status_code(const fas_status* s);
const char* fas_status_message(const fas_status* s);
void fas_status_free(fas_status* s);

/* ---- library ------------------------------------------------------------------------ */
typedef struct {
  char shim_version[32];
  char torch_version[32];
  int cuda_available;   /* built with CUDA and a device is present */
  int cuda_device_count;
  int num_threads;      /* intra-op threads of the calling thread now */
  char methods[128];    /* the methods this shim builds, comma-separated */
} fas_version_info;

fas_status* fas_version(fas_version_info* out);
/* Sets libtorch's intra-op thread count for every later call of the process (n >= 1). */
fas_status* fas_set_num_threads(int n);

/* ---- tensors crossing the boundary -------------------------------------------------- */
typedef enum { FAS_F32 = 0, FAS_F64 = 1, FAS_I64 = 2, FAS_U8 = 3 } fas_dtype;

#define FAS_MAX_DIMS 8
#define FAS_MAX_NAME 160

/* A borrowed view of caller memory (row-major, contiguous, little-endian). */
typedef struct {
  const char* name;
  int dtype; /* fas_dtype */
  int ndim;
  const int64_t* shape;
  const void* data;
} fas_tensor_view;

typedef struct {
  char name[FAS_MAX_NAME];
  int dtype;
  int ndim;
  int64_t shape[FAS_MAX_DIMS];
  int64_t nbytes;
  int is_param; /* 1: trainable parameter, 0: buffer or other state */
} fas_tensor_info;

/* A list of named CPU tensors owned by the shim (state, outputs, step results). */
typedef struct fas_tensor_list fas_tensor_list;
int64_t fas_tensor_list_len(const fas_tensor_list* l);
fas_status* fas_tensor_list_get(const fas_tensor_list* l, int64_t i, fas_tensor_info* info,
                                const void** data);
void fas_tensor_list_free(fas_tensor_list* l);

/* A method setting: key = value as text (numbers in C locale, booleans true/false). */
typedef struct {
  const char* key;
  const char* value;
} fas_setting;

#define FAS_MAX_SETTING 64
typedef struct {
  char key[FAS_MAX_SETTING];
  char value[FAS_MAX_SETTING];
} fas_setting_info;

/* ---- model -------------------------------------------------------------------------- */
typedef struct {
  const char* method;          /* "anrl" */
  int size;                    /* input size S */
  int dtype;                   /* FAS_F32 (default) or FAS_F64 */
  const char* device;          /* "cpu", "cuda", "cuda:N"; NULL = cpu */
  uint64_t seed;               /* initialisation seed */
  int threads;                 /* intra-op threads for this model's calls; 0 = leave as is */
  const fas_setting* settings; /* the method's settings (anrl: width, gate) */
  int64_t num_settings;
} fas_model_config;

typedef struct {
  char method[32];
  char device[32];
  int size;
  int dtype;
  int64_t num_params;   /* trainable scalars */
  int64_t num_param_tensors;
  int64_t num_tensors;  /* parameters and buffers */
  int64_t num_settings; /* fas_model_get_setting 0..num_settings-1 */
  int64_t num_outputs;  /* fas_model_get_output_name 0..num_outputs-1 */
} fas_model_info;

typedef struct fas_model fas_model;

fas_status* fas_model_new(const fas_model_config* cfg, fas_model** out);
void fas_model_free(fas_model* m); /* NULL is a no-op */
fas_status* fas_model_get_info(fas_model* m, fas_model_info* out);
/* The settings that rebuild this model, defaults filled in. */
fas_status* fas_model_get_setting(fas_model* m, int64_t i, fas_setting_info* out);
fas_status* fas_model_get_output_name(fas_model* m, int64_t i, char name[FAS_MAX_NAME]);

/* Every parameter and buffer under the reference's state-dict names, in its order. */
fas_status* fas_model_export(fas_model* m, fas_tensor_list** out);
/* Replaces the whole state. All or nothing: a missing, extra or mis-shaped tensor fails with
 * a message listing every one of them, and the model is left unchanged. */
fas_status* fas_model_import(fas_model* m, const fas_tensor_view* ts, int64_t n);

/* x: n x 6 x s x s float32. Named outputs (anrl: logits n x 2, depth n x F x F, features
 * n x C x F x F with F = s/8) as a list, in the order asked for; names NULL = all.
 * train != 0 normalises with batch statistics and updates the BN running statistics. */
fas_status* fas_model_forward(fas_model* m, const float* x, int64_t n, int64_t s, int train,
                              const char* const* names, int64_t num_names, fas_tensor_list** out);

/* N attack scores in [0, 1] (higher = attack) into scores[0..n-1], eval mode, for any
 * method; seed makes a stochastic score (FGHV's latent draws) deterministic. */
fas_status* fas_model_score(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed,
                            double* scores);

/* Flags of fas_model_score_flags. */
#define FAS_SCORE_BATCH_INVARIANT 1u /* each input scores bit for bit as it does alone, whatever
                                        else is in the batch and whatever the thread count: every
                                        input runs as a batch of one on one thread, the inputs of
                                        the batch in parallel over the model's threads */

/* fas_model_score with flags (an OR of FAS_SCORE_*; 0 is fas_model_score). Unknown flag bits
 * are FAS_ERR_INVALID_ARGUMENT. (Added in ABI 3; a compatible addition.) */
fas_status* fas_model_score_flags(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed,
                                  uint32_t flags, double* scores);

/* ---- trainer ------------------------------------------------------------------------ */
typedef enum { FAS_OPT_ADAM = 0, FAS_OPT_SGD = 1 } fas_optimizer;

/* What every method's training shares: the optimizer and the seed of the trainer's generator
 * (domain orders, latent draws); the method's own training settings come beside it. */
typedef struct {
  int optimizer;              /* fas_optimizer */
  double weight_decay;
  int decoupled_weight_decay; /* 1: AdamW-style; 0: L2 added to the gradient */
  double momentum;            /* SGD */
  int nesterov;               /* SGD */
  double beta1, beta2, eps;   /* Adam */
  uint64_t seed;
  const fas_setting* settings; /* the method's training settings (anrl: num_domains, ...) */
  int64_t num_settings;
} fas_train_config;

typedef struct fas_trainer fas_trainer;

fas_status* fas_trainer_new(fas_model* m, const fas_train_config* cfg, fas_trainer** out);
void fas_trainer_free(fas_trainer* t);
/* One training step on the named batch tensors at learning rate lr. All or nothing: a
 * failure leaves weights, buffers, optimizer moments, counters and generator unchanged. The
 * result: the method's statistics as 0-d F64 tensors (anrl: "loss", "meta_train/cls", ...),
 * then its other results (anrl: "domain_order" I64 [K]), then "step" (0-d I64, steps taken so
 * far, this one included). A NaN/Inf statistic or gradient fails with FAS_ERR_NONFINITE
 * naming it. */
fas_status* fas_trainer_step(fas_trainer* t, const fas_tensor_view* batch, int64_t n, double lr,
                             fas_tensor_list** result);
/* The method's per-epoch hook (anrl: resets the domain centers); epoch is 1-based. */
fas_status* fas_trainer_epoch_begin(fas_trainer* t, int64_t epoch);
/* The whole training state (model state under "model.", optimizer moments, the method's
 * extra state, step counter, generator state) for checkpoints, and its restoration (all or
 * nothing). */
fas_status* fas_trainer_export(fas_trainer* t, fas_tensor_list** out);
fas_status* fas_trainer_import(fas_trainer* t, const fas_tensor_view* ts, int64_t n);

/* ---- process groups (c10d) ---------------------------------------------------------- */
/* One process's membership in a group of ranks: rendezvous through c10d's TCPStore (rank 0
 * serves it on master_port), Gloo on CPU, NCCL when this libtorch has CUDA. A collective that
 * fails or outlasts the timeout (a rank died or hangs) returns FAS_ERR_TORCH naming this
 * rank; the group is unusable afterwards. */
typedef struct {
  int rank;
  int world_size;
  const char* master_addr;
  int master_port;
  const char* backend;  /* "auto" (NULL), "gloo", "nccl" */
  const char* iface;    /* Gloo: bind to this interface; NULL: hostname, else this host's address */
  const char* hostname; /* Gloo: bind to this address or host name */
  double timeout_s;     /* store and collectives; <= 0: 180 */
  int agent_store;      /* 1: a launcher (torchrun) serves the store at master_port; rank 0 connects */
} fas_pg_config;

typedef struct fas_pg fas_pg;

fas_status* fas_pg_new(const fas_pg_config* cfg, fas_pg** out);
void fas_pg_free(fas_pg* g);
/* The backend in use ("gloo" or "nccl"), into name[16]. */
fas_status* fas_pg_backend(fas_pg* g, char name[16]);
fas_status* fas_pg_barrier(fas_pg* g);
/* values[0..n-1] becomes the sum over ranks, on every rank. */
fas_status* fas_pg_allreduce_f64(fas_pg* g, double* values, int64_t n);
/* out[r*n .. r*n+n-1] = rank r's values, on every rank (n the same everywhere). */
fas_status* fas_pg_allgather_f64(fas_pg* g, const double* values, int64_t n, double* out);
/* Every parameter and buffer of m becomes root's (the same network on every rank). */
fas_status* fas_pg_broadcast_model(fas_pg* g, fas_model* m, int root);

/* Trains t's model across g's ranks: broadcasts parameters and buffers from rank 0 now, and
 * from then on averages every parameter's gradient over the ranks at the trainer's reduction
 * point (coalesced buckets) before the optimizer update. average_state != 0 also averages
 * the floating buffers (BN running statistics) and the method's extra state (anrl: domain
 * centers) every step; by default they stay per rank, as the reference trains. The trainer
 * keeps g alive. */
fas_status* fas_trainer_set_process_group(fas_trainer* t, fas_pg* g, int average_state);
/* The per-rank part of every rank's training state (buffers "model.<buffer>", the method's
 * extra state, "rng.cpu"), named "rank<R>/<name>", gathered on every rank. */
fas_status* fas_trainer_gather_rank_state(fas_trainer* t, fas_tensor_list** out);

#ifdef __cplusplus
}
#endif
#endif /* FAS_FAS_H */
