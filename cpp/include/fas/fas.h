/* fas.h: the plain C face of the fasgo shim (libfasshim).
 *
 * Rules of this interface:
 * - Opaque handles; no torch or C++ types; no C++ exception ever crosses it.
 * - Every fallible call returns a fas_status*: NULL means success, otherwise the caller reads
 *   its code and message and frees it with fas_status_free.
 * - Arrays passed in are borrowed for the duration of the call only.
 * - Thread safety: a fas_model allows concurrent eval-mode forwards; every other call on a
 *   model (train-mode forward, load, export) and every trainer call serialise on the model's
 *   own lock. A trainer keeps its model alive (freeing the model handle first is safe).
 */
#ifndef FAS_FAS_H
#define FAS_FAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------------------- */
typedef enum {
  FAS_OK = 0,
  FAS_ERR_INVALID_ARGUMENT = 1, /* null/closed handle, wrong shape, bad value */
  FAS_ERR_NOT_FOUND = 2,        /* unknown tensor name */
  FAS_ERR_OUT_OF_MEMORY = 3,    /* std::bad_alloc, CUDA OOM */
  FAS_ERR_TORCH = 4,            /* c10::Error from libtorch */
  FAS_ERR_NONFINITE = 5,        /* NaN/Inf in an input or a loss */
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
  int num_threads;      /* intra-op threads now in use */
} fas_version_info;

fas_status* fas_version(fas_version_info* out);
fas_status* fas_set_num_threads(int n); /* n >= 1 */

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

/* A list of named CPU tensors owned by the shim (state exported for saving). */
typedef struct fas_tensor_list fas_tensor_list;
int64_t fas_tensor_list_len(const fas_tensor_list* l);
fas_status* fas_tensor_list_get(const fas_tensor_list* l, int64_t i, fas_tensor_info* info,
                                const void** data);
void fas_tensor_list_free(fas_tensor_list* l);

/* ---- model -------------------------------------------------------------------------- */
typedef struct {
  const char* method; /* "anrl" */
  int size;           /* input size S, a multiple of 8 (F = S/8) */
  double width;       /* channel-width multiplier > 0 (1 = the paper's network) */
  const char* gate;   /* "1layer" | "2layer" | "clamp" */
  int dtype;          /* FAS_F32 (default) or FAS_F64 */
  const char* device; /* "cpu", "cuda", "cuda:N"; NULL = cpu */
  uint64_t seed;      /* initialisation seed */
} fas_model_config;

typedef struct {
  char method[16];
  char gate[16];
  char device[32];
  int size;
  double width;
  int dtype;
  int feature_channels; /* C of the N x C x F x F feature (384 at width 1) */
  int64_t num_params;   /* trainable scalars */
  int64_t num_param_tensors;
  int64_t num_tensors;  /* parameters and buffers */
} fas_model_info;

typedef struct fas_model fas_model;

fas_status* fas_model_new(const fas_model_config* cfg, fas_model** out);
void fas_model_free(fas_model* m); /* NULL is a no-op */
fas_status* fas_model_get_info(fas_model* m, fas_model_info* out);

/* Every parameter and buffer under the reference's state-dict names, in its order. */
fas_status* fas_model_export(fas_model* m, fas_tensor_list** out);
/* Replaces the whole state. All or nothing: a missing, extra or mis-shaped tensor fails with
 * a message listing every one of them, and the model is left unchanged. */
fas_status* fas_model_import(fas_model* m, const fas_tensor_view* ts, int64_t n);

/* x: n x 6 x s x s float32. Outputs (caller-allocated, may be NULL to skip):
 * logits n x 2, depth n x F x F, features n x C x F x F, with F = s / 8.
 * train != 0 normalises with batch statistics and updates the BN running statistics. */
fas_status* fas_model_forward(fas_model* m, const float* x, int64_t n, int64_t s, int train,
                              float* logits, float* depth, float* features);

/* ---- trainer (ANRL meta-learning step) ---------------------------------------------- */
typedef enum { FAS_OPT_ADAM = 0, FAS_OPT_SGD = 1 } fas_optimizer;

typedef struct {
  int num_domains;         /* K source domains, >= 2 */
  int metasize;            /* meta-train domains per step, 1..K-1 (default 2) */
  int meta;                /* 1: meta-learning step; 0: plain supervised step (ablation) */
  double meta_step_size;   /* alpha, default 1e-4 */
  double w_cls, w_depth, w_domain, w_discri; /* 1, 0.1, 0.001, 0.001 */
  double center_momentum;  /* 0.9 */
  int first_order;         /* 1: inner gradients detached (ablation) */
  int textbook_fast_weights; /* 1: theta' keeps the direct path to theta (not the reference) */
  int optimizer;           /* fas_optimizer */
  double weight_decay;
  int decoupled_weight_decay; /* 1: AdamW-style; 0: L2 added to the gradient */
  double momentum;         /* SGD */
  int nesterov;            /* SGD */
  double beta1, beta2, eps; /* Adam */
  uint64_t seed;           /* domain-order RNG */
} fas_train_config;

typedef struct {
  int num_domains; /* K */
  int per_class;   /* B */
  int size;        /* S */
  const float* images;     /* K x 2B x 6 x S x S: per domain B live then B attack */
  const float* depth;      /* K x 2B x F x F */
  const int64_t* labels;   /* K x 2B */
  const int* domain_order; /* K entries, a permutation; first metasize = meta-train.
                              NULL: drawn from the trainer's RNG */
} fas_batch;

typedef struct {
  double cls, depth, domain, discri, acc, loss; /* loss = weighted sum of the phase */
} fas_phase_stats;

typedef struct {
  fas_phase_stats meta_train, meta_test; /* meta_test is zero for a plain step */
  double loss;                           /* the total that was back-propagated */
  int64_t step;                          /* steps taken so far, this one included */
  int domain_order[16];                  /* the order used (first K entries) */
} fas_step_stats;

typedef struct fas_trainer fas_trainer;

fas_status* fas_trainer_new(fas_model* m, const fas_train_config* cfg, fas_trainer** out);
void fas_trainer_free(fas_trainer* t);
fas_status* fas_trainer_step(fas_trainer* t, const fas_batch* b, double lr, fas_step_stats* out);
fas_status* fas_trainer_reset_centers(fas_trainer* t);
/* The whole training state (model state under "model.", optimizer moments, domain centers,
 * step counter, RNG states) for checkpoints, and its restoration (all or nothing). */
fas_status* fas_trainer_export(fas_trainer* t, fas_tensor_list** out);
fas_status* fas_trainer_import(fas_trainer* t, const fas_tensor_view* ts, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* FAS_FAS_H */
