// Face detection with dlib (compiled only when CMake finds dlib; see face.h).
#include "face.h"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms/interpolation.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <stdexcept>

#ifndef FAS_DLIB_VERSION
#define FAS_DLIB_VERSION "unknown"
#endif

namespace fas {

// A borrowed RGB8 image in dlib's generic image interface (dlib/image_processing/
// generic_image.h): the detector and the shape predictor read the caller's memory directly.
struct RgbView {
  const uint8_t* data;
  long rows, cols, stride;
};
inline long num_rows(const RgbView& v) { return v.rows; }
inline long num_columns(const RgbView& v) { return v.cols; }
inline const void* image_data(const RgbView& v) { return v.data; }
inline long width_step(const RgbView& v) { return v.stride; }

}  // namespace fas

namespace dlib {
template <>
struct image_traits<fas::RgbView> {
  typedef rgb_pixel pixel_type;
};
}  // namespace dlib

namespace fas {

static_assert(sizeof(dlib::rgb_pixel) == 3, "dlib::rgb_pixel must be 3 packed bytes R, G, B");

std::string face_backend() { return "dlib " FAS_DLIB_VERSION " HOG frontal_face_detector"; }

struct FaceFinder::Impl {
  std::string model_path;
  std::unique_ptr<dlib::shape_predictor> predictor;  // immutable once loaded: shared

  // Idle detectors. A call borrows one (or makes one: get_frontal_face_detector
  // deserialises dlib's built-in model, a few ms) and gives it back afterwards.
  std::mutex mu;
  std::vector<std::unique_ptr<dlib::frontal_face_detector>> idle;

  std::unique_ptr<dlib::frontal_face_detector> borrow() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        auto d = std::move(idle.back());
        idle.pop_back();
        return d;
      }
    }
    return std::make_unique<dlib::frontal_face_detector>(dlib::get_frontal_face_detector());
  }
  void give_back(std::unique_ptr<dlib::frontal_face_detector> d) {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(std::move(d));
  }
};

FaceFinder::FaceFinder(const std::string& landmark_model) : impl_(std::make_unique<Impl>()) {
  impl_->idle.push_back(std::make_unique<dlib::frontal_face_detector>(dlib::get_frontal_face_detector()));
  if (landmark_model.empty()) return;
  {
    std::ifstream in(landmark_model, std::ios::binary);
    if (!in)
      throw std::out_of_range("landmark model " + landmark_model +
                              ": cannot open the file (Debian's libdlib-data installs " +
                              kDefaultLandmarkModel + ")");
  }
  auto sp = std::make_unique<dlib::shape_predictor>();
  try {
    dlib::deserialize(landmark_model) >> *sp;
  } catch (const dlib::serialization_error& e) {
    throw std::invalid_argument("landmark model " + landmark_model +
                                ": not a dlib shape predictor: " + e.info);
  }
  if (sp->num_parts() != 68)
    throw std::invalid_argument("landmark model " + landmark_model + ": a shape predictor of " +
                                std::to_string(sp->num_parts()) +
                                " points; the 5 landmarks need the 68-point model (iBUG 300-W)");
  impl_->predictor = std::move(sp);
  impl_->model_path = landmark_model;
}

FaceFinder::~FaceFinder() = default;

bool FaceFinder::has_landmarks() const { return impl_->predictor != nullptr; }
const std::string& FaceFinder::landmark_model() const { return impl_->model_path; }

namespace {

// The 5 points from the 68 of iBUG 300-W (0-based): eye centres as the mean of each eye's
// six contour points (36-41 on the image's left, 42-47), the nose tip 30, the mouth corners
// 48 and 54.
void five_points(const dlib::full_object_detection& s, float* lm) {
  auto mean = [&](int from, float* xy) {
    double x = 0, y = 0;
    for (int i = from; i < from + 6; ++i) {
      x += s.part(i).x();
      y += s.part(i).y();
    }
    xy[0] = static_cast<float>(x / 6);
    xy[1] = static_cast<float>(y / 6);
  };
  mean(36, lm);
  mean(42, lm + 2);
  const int single[3] = {30, 48, 54};
  for (int k = 0; k < 3; ++k) {
    lm[4 + 2 * k] = static_cast<float>(s.part(single[k]).x());
    lm[5 + 2 * k] = static_cast<float>(s.part(single[k]).y());
  }
}

// dst (h/k x w/k) = the means of k x k blocks of src (the rest of the rows and columns
// dropped: at most k-1 pixels of an image many times k wide).
void box_reduce(const RgbView& src, int k, dlib::array2d<dlib::rgb_pixel>& dst) {
  const long dw = dst.nc(), dh = dst.nr();
  std::vector<uint32_t> acc(3 * dw);
  const uint32_t n = static_cast<uint32_t>(k) * k;
  for (long y = 0; y < dh; ++y) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int dy = 0; dy < k; ++dy) {
      const uint8_t* row = src.data + (y * k + dy) * src.stride;
      for (long x = 0; x < dw; ++x)
        for (int dx = 0; dx < k; ++dx) {
          const uint8_t* p = row + 3 * (x * k + dx);
          acc[3 * x] += p[0];
          acc[3 * x + 1] += p[1];
          acc[3 * x + 2] += p[2];
        }
    }
    for (long x = 0; x < dw; ++x)
      dst[y][x] = dlib::rgb_pixel(static_cast<unsigned char>((acc[3 * x] + n / 2) / n),
                                  static_cast<unsigned char>((acc[3 * x + 1] + n / 2) / n),
                                  static_cast<unsigned char>((acc[3 * x + 2] + n / 2) / n));
  }
}

}  // namespace

std::vector<Face> FaceFinder::find(const uint8_t* rgb, int width, int height, int64_t stride,
                                   const FaceOptions& opt) const {
  check_face_input(rgb, width, height, stride, opt);
  const RgbView view{rgb, height, width, static_cast<long>(stride)};

  // The detector sees a copy scaled down to max_side (a k x k box average for the whole
  // factor k, then bilinear: no aliasing from skipped pixels), then up 2^upsample (bilinear).
  const int max_side = opt.max_side == 0 ? kDefaultMaxSide : opt.max_side;
  double down = 1;
  if (max_side > 0 && std::max(width, height) > max_side)
    down = static_cast<double>(max_side) / std::max(width, height);
  const double scale = down * static_cast<double>(1 << opt.upsample);
  const long sw = std::max(1L, std::lround(width * scale));
  const long sh = std::max(1L, std::lround(height * scale));
  if (static_cast<int64_t>(sw) * sh > kMaxFacePixels)
    throw std::invalid_argument("upsample " + std::to_string(opt.upsample) + " of a " + std::to_string(width) +
                                "x" + std::to_string(height) + " image makes more than " +
                                std::to_string(kMaxFacePixels) + " pixels");

  std::vector<dlib::rect_detection> dets;
  auto det = impl_->borrow();
  struct Return {  // gives the detector back on every path out, exceptions included
    Impl* impl;
    std::unique_ptr<dlib::frontal_face_detector>& d;
    ~Return() { impl->give_back(std::move(d)); }
  } give_back{impl_.get(), det};
  if (sw == width && sh == height) {
    (*det)(view, dets, opt.min_score);
  } else {
    dlib::array2d<dlib::rgb_pixel> scaled(sh, sw);
    const int k = static_cast<int>(1 / scale);
    if (k >= 2 && width / k >= 1 && height / k >= 1) {  // (a 1 px high strip is only resized)
      dlib::array2d<dlib::rgb_pixel> boxed(height / k, width / k);
      box_reduce(view, k, boxed);
      dlib::resize_image(boxed, scaled, dlib::interpolate_bilinear());
    } else {
      dlib::resize_image(view, scaled, dlib::interpolate_bilinear());
    }
    (*det)(scaled, dets, opt.min_score);
  }

  std::stable_sort(dets.begin(), dets.end(),
                   [](const dlib::rect_detection& a, const dlib::rect_detection& b) {
                     return a.detection_confidence > b.detection_confidence;
                   });
  std::vector<Face> faces;
  faces.reserve(dets.size());
  const double sx = static_cast<double>(width) / sw, sy = static_cast<double>(height) / sh;
  for (const auto& d : dets) {
    // dlib's rectangles are inclusive; the box is in pixel edges of the full image.
    const double x0 = d.rect.left() * sx, y0 = d.rect.top() * sy;
    const double x1 = (d.rect.right() + 1) * sx, y1 = (d.rect.bottom() + 1) * sy;
    Face f;
    f.x0 = static_cast<float>(std::clamp(x0, 0.0, static_cast<double>(width)));
    f.y0 = static_cast<float>(std::clamp(y0, 0.0, static_cast<double>(height)));
    f.x1 = static_cast<float>(std::clamp(x1, 0.0, static_cast<double>(width)));
    f.y1 = static_cast<float>(std::clamp(y1, 0.0, static_cast<double>(height)));
    f.score = static_cast<float>(d.detection_confidence);
    if (impl_->predictor) {
      // The unclipped box, on the full-resolution image.
      const dlib::rectangle r(std::lround(x0), std::lround(y0), std::lround(x1) - 1, std::lround(y1) - 1);
      const dlib::full_object_detection shape = (*impl_->predictor)(view, r);
      five_points(shape, f.landmarks);
      for (int i = 0; i < kFacePoints; ++i) {
        f.points[2 * i] = static_cast<float>(shape.part(i).x());
        f.points[2 * i + 1] = static_cast<float>(shape.part(i).y());
      }
      f.has_landmarks = true;
    }
    faces.push_back(f);
  }
  return faces;
}

}  // namespace fas
