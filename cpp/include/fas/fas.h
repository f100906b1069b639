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
 * - A fas_face_finder is safe for concurrent use: concurrent finds run in parallel.
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
#define FAS_ABI_VERSION 7
int fas_abi_version(void);

/* ---- status ------------------------------------------------------------------------- */
typedef enum {
  FAS_OK = 0,
  FAS_ERR_INVALID_ARGUMENT = 1, /* null/closed handle, wrong shape, bad value */
  FAS_ERR_NOT_FOUND = 2,        /* unknown tensor name, missing file */
  FAS_ERR_OUT_OF_MEMORY = 3,    /* std::bad_alloc, CUDA OOM */
  FAS_ERR_TORCH = 4,            /* c10::Error from libtorch */
  FAS_ERR_NONFINITE = 5,        /* NaN/Inf in an input, a loss or a gradient */
  FAS_ERR_INTERNAL = 6,         /* anything else */
  FAS_ERR_UNSUPPORTED = 7       /* a feature this build of the shim lacks (face detection without dlib) */
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
  const char* method;          /* "anrl", "fghv", "minifasnet" */
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
  int channels;         /* input planes C of x (n x C x s x s): 6 for anrl and fghv (RGB + HSV),
                           3 for minifasnet (B, G, R); ABI 6 added it */
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

/* x: n x C x s x s float32 (C = fas_model_info.channels). Named outputs (anrl: logits n x 2, depth n x F x F, features
 * n x C x F x F with F = s/8; fghv: docs/fghv.md) as a list, in the order asked for; names
 * NULL = all. train != 0 normalises with batch statistics and updates the BN running
 * statistics. seed makes stochastic outputs deterministic: an eval-mode forward with seed s
 * gives the parts that fas_model_score with seed s combines (ABI 3 added it). */
fas_status* fas_model_forward(fas_model* m, const float* x, int64_t n, int64_t s, int train, uint64_t seed,
                              const char* const* names, int64_t num_names, fas_tensor_list** out);

/* An eval-mode fas_model_forward with flags (FAS_SCORE_*, below): FAS_SCORE_BATCH_INVARIANT
 * makes every input's outputs the bits it gets alone (ABI 6 added it). */
fas_status* fas_model_forward_flags(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed, uint32_t flags,
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

/* fas_model_forward and fas_model_score_flags with the input x as a view (F32 or F64,
 * n x 6 x s x s; its name is ignored), converted to the model's dtype, so an F64 model sees
 * F64 input unrounded. fas_model_forward_view returns the outputs in the model's dtype
 * (F64 for an F64 model). (Added in ABI 6; a compatible addition.) */
fas_status* fas_model_forward_view(fas_model* m, const fas_tensor_view* x, int train, uint64_t seed,
                                   const char* const* names, int64_t num_names, fas_tensor_list** out);
fas_status* fas_model_score_view(fas_model* m, const fas_tensor_view* x, uint64_t seed, uint32_t flags,
                                 double* scores);

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

/* ---- face detection ----------------------------------------------------------------- */
/* dlib's HOG frontal-face detector, and dlib's 68-point shape predictor for the 5 landmarks
 * when its model file is there. Built only when CMake finds dlib (Debian libdlib-dev);
 * otherwise fas_face_finder_new fails with FAS_ERR_UNSUPPORTED ("face detection not built
 * (install libdlib-dev)"). A finder is safe for concurrent use: every find borrows one of
 * the finder's detectors (made on demand, one per concurrent call); the landmark model is
 * shared read-only. */

/* The detector this shim was built with ("dlib 19.24.0 HOG frontal_face_detector"), or ""
 * when face detection is not built. A static string. */
const char* fas_face_backend(void);

typedef struct fas_face_finder fas_face_finder;

/* landmark_model: the path of a dlib 68-point shape predictor; NULL = Debian's
 * /usr/share/dlib/shape_predictor_68_face_landmarks.dat (package libdlib-data) when it is
 * installed, else no landmarks; "" = no landmarks. A given path that does not exist fails
 * with FAS_ERR_NOT_FOUND, a file that is not a 68-point predictor with
 * FAS_ERR_INVALID_ARGUMENT. Loading the default model takes about a second. */
fas_status* fas_face_finder_new(const char* landmark_model, fas_face_finder** out);
void fas_face_finder_free(fas_face_finder* f); /* NULL is a no-op; no find may be running */

typedef struct {
  int has_landmarks;
  char landmark_model[4096]; /* the file loaded; "" when none */
} fas_face_finder_info;
fas_status* fas_face_finder_get_info(fas_face_finder* f, fas_face_finder_info* out);

/* Detection settings; NULL (or all zeros) = the defaults. */
typedef struct {
  int upsample;     /* 0..2: each level doubles the image first: the smallest face found is
                       about 80 px at 0, 40 px at 1, 20 px at 2 (4x the work each) */
  int max_side;     /* detect on a copy scaled down so its longer side is at most this many
                       pixels (landmarks still on the full image): 0 = 1280, < 0 = never */
  double min_score; /* keep detections scoring at least this (dlib's adjust_threshold; 0) */
} fas_face_options;

#define FAS_FACE_DEFAULT_MAX_SIDE 1280
/* The largest image (width x height, also after upsampling) a find accepts. */
#define FAS_FACE_MAX_PIXELS (1 << 26)

/* One face. The box is in pixel edges of the input, x0 <= x < x1, y0 <= y < y1, clipped to
 * the image. score: dlib's detection confidence (an SVM margin: > 0 is a detection, ~1 and
 * more a clear frontal face). landmarks (when has_landmarks): left eye centre, right eye
 * centre, nose tip, left mouth corner, right mouth corner ("left" = the image's left) as
 * x, y pairs in input pixels, pixel centres at integers: the order of the list files.
 * points (when has_landmarks): all 68 points of the shape predictor, x, y pairs in the same
 * coordinates, in iBUG 300-W order (0-based: 0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes,
 * 48-67 mouth), from which the 5 landmarks follow. (ABI 7 added points.) */
#define FAS_FACE_POINTS 68
typedef struct {
  float x0, y0, x1, y1;
  float score;
  int has_landmarks;
  float landmarks[10];
  float points[2 * FAS_FACE_POINTS];
} fas_face;

/* Finds every face in an RGB8 image: height rows of stride bytes, each width pixels of 3
 * bytes R, G, B. The first min(*count, capacity) faces, best score first, go into
 * out[0..capacity-1]; *count is the number found (call again with a larger array for the
 * rest; out may be NULL when capacity is 0). A NULL pointer, width or height < 1, more than
 * FAS_FACE_MAX_PIXELS pixels, stride < 3*width, or options out of range fail with
 * FAS_ERR_INVALID_ARGUMENT before anything is allocated. */
fas_status* fas_face_find(fas_face_finder* f, const uint8_t* rgb, int width, int height, int stride,
                          const fas_face_options* options, fas_face* out, int capacity, int* count);

#ifdef __cplusplus
}
#endif
#endif /* FAS_FAS_H */
