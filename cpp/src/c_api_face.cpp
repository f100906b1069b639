// The C ABI of fas.h for face detection. Compiled always; the detector itself (face.cpp,
// dlib) only when CMake found dlib, which defines FAS_WITH_FACE for this file alone.
#include <cstdio>
#include <cstring>
#include <fstream>

#include "capi_util.h"
#include "face.h"

static_assert(fas::kFacePoints == FAS_FACE_POINTS, "fas.h and face.h agree on the number of points");

#ifdef FAS_WITH_FACE
struct fas_face_finder {
  std::unique_ptr<fas::FaceFinder> finder;
};
#else
struct fas_face_finder {};  // never made: fas_face_finder_new fails
#endif

namespace fas {

void check_face_input(const uint8_t* rgb, int width, int height, int64_t stride, const FaceOptions& opt) {
  check_not_null(rgb, "image");
  if (width < 1 || height < 1)
    throw std::invalid_argument("image of " + std::to_string(width) + "x" + std::to_string(height) +
                                " pixels is empty");
  if (static_cast<int64_t>(width) * height > kMaxFacePixels)
    throw std::invalid_argument("image of " + std::to_string(width) + "x" + std::to_string(height) +
                                " pixels is larger than " + std::to_string(kMaxFacePixels) + " pixels");
  if (stride < 3 * static_cast<int64_t>(width))
    throw std::invalid_argument("row stride " + std::to_string(stride) + " is less than 3 x width " +
                                std::to_string(width));
  if (opt.upsample < 0 || opt.upsample > 2)
    throw std::invalid_argument("upsample " + std::to_string(opt.upsample) + " is outside 0..2");
  if (!(opt.min_score > -1e6 && opt.min_score < 1e6))  // also NaN
    throw std::invalid_argument("min score " + std::to_string(opt.min_score) + " is not a finite score");
}

}  // namespace fas

namespace {

#ifdef FAS_WITH_FACE
fas::FaceFinder& finder(fas_face_finder* f) {
  if (!f || !f->finder) throw std::invalid_argument("face finder is NULL");
  return *f->finder;
}
#else
[[noreturn]] void not_built() {
  throw fas::UnsupportedError("face detection not built (install libdlib-dev and rebuild the shim)");
}

[[noreturn]] void finder(fas_face_finder* f) {
  if (!f) throw std::invalid_argument("face finder is NULL");
  not_built();
}
#endif

}  // namespace

extern "C" {

const char* fas_face_backend(void) {
#ifdef FAS_WITH_FACE
  static const std::string name = fas::face_backend();
  return name.c_str();
#else
  return "";
#endif
}

fas_status* fas_face_finder_new(const char* landmark_model, fas_face_finder** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "face finder output");
    *out = nullptr;
#ifdef FAS_WITH_FACE
    std::string path;
    if (landmark_model) {
      path = landmark_model;
    } else if (std::ifstream(fas::kDefaultLandmarkModel, std::ios::binary)) {
      path = fas::kDefaultLandmarkModel;
    }
    auto h = std::make_unique<fas_face_finder>();
    h->finder = std::make_unique<fas::FaceFinder>(path);
    *out = h.release();
#else
    (void)landmark_model;
    not_built();
#endif
  });
}

void fas_face_finder_free(fas_face_finder* f) { delete f; }

fas_status* fas_face_finder_get_info(fas_face_finder* f, fas_face_finder_info* out) {
  return fas::guard([&] {
#ifdef FAS_WITH_FACE
    fas::FaceFinder& ff = finder(f);
    fas::check_not_null(out, "face finder info");
    std::memset(out, 0, sizeof(*out));
    out->has_landmarks = ff.has_landmarks();
    fas::copy_name(out->landmark_model, sizeof(out->landmark_model), ff.landmark_model(), "landmark model path");
#else
    (void)out;
    finder(f);
#endif
  });
}

fas_status* fas_face_find(fas_face_finder* f, const uint8_t* rgb, int width, int height, int stride,
                          const fas_face_options* options, fas_face* out, int capacity, int* count) {
  return fas::guard([&] {
#ifdef FAS_WITH_FACE
    fas::FaceFinder& ff = finder(f);
    fas::check_not_null(count, "face count");
    *count = 0;
    if (capacity < 0) throw std::invalid_argument("capacity " + std::to_string(capacity) + " is negative");
    if (capacity > 0) fas::check_not_null(out, "face array");
    fas::FaceOptions opt;
    if (options) {
      opt.upsample = options->upsample;
      opt.max_side = options->max_side;
      opt.min_score = options->min_score;
    }
    const std::vector<fas::Face> faces = ff.find(rgb, width, height, stride, opt);
    for (size_t i = 0; i < faces.size() && i < static_cast<size_t>(capacity); ++i) {
      const fas::Face& s = faces[i];
      fas_face& d = out[i];
      d.x0 = s.x0;
      d.y0 = s.y0;
      d.x1 = s.x1;
      d.y1 = s.y1;
      d.score = s.score;
      d.has_landmarks = s.has_landmarks;
      std::memcpy(d.landmarks, s.landmarks, sizeof(d.landmarks));
      std::memcpy(d.points, s.points, sizeof(d.points));
    }
    *count = static_cast<int>(faces.size());
#else
    (void)rgb, (void)width, (void)height, (void)stride, (void)options, (void)out, (void)capacity, (void)count;
    finder(f);
#endif
  });
}

}  // extern "C"
