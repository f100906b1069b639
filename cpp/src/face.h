// Face detection: dlib's HOG frontal-face detector and, when its model file is there, dlib's
// 68-point shape predictor, from which the 5 points of our list files follow.
//
// This header names no dlib type, so that c_api_face.cpp compiles whether or not dlib is
// installed; face.cpp (the only file that includes dlib) is compiled only when CMake finds it.
//
// Thread safety: a FaceFinder is safe for concurrent use. dlib's frontal_face_detector keeps
// scratch state and is not, so each call borrows one from the finder's pool (made on demand,
// one per concurrent call, returned afterwards); the shape predictor is immutable after
// loading and shared by all calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fas {

constexpr int kFacePoints = 68;

struct Face {
  // The box in pixel edges of the input: x0 <= x < x1, y0 <= y < y1, clipped to the image.
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  float score = 0;  // dlib's detection confidence (SVM margin; detections have score >= min_score)
  bool has_landmarks = false;
  // Left eye, right eye, nose tip, left mouth corner, right mouth corner (left = the image's
  // left), as x, y pairs in input pixels (pixel centres at integers): the list-file order.
  float landmarks[10] = {};
  // The 68 points of iBUG 300-W (0-based order), x, y pairs as landmarks, when has_landmarks.
  float points[2 * kFacePoints] = {};
};

struct FaceOptions {
  int upsample = 0;       // 0..2: each doubles the image first (faces down to ~80 px, ~40, ~20)
  int max_side = 0;       // detect on a copy scaled so its longer side is <= this; 0 = default, < 0 never
  double min_score = 0;   // dlib's adjust_threshold
};

constexpr int kDefaultMaxSide = 1280;
// The largest input (and largest scaled copy) a call accepts, as imgproc.MaxPixels.
constexpr int64_t kMaxFacePixels = int64_t{1} << 26;

// "dlib 19.24.0 HOG frontal_face_detector + shape_predictor_68", or "" when not built.
std::string face_backend();
// The landmark model Debian's libdlib-data installs.
constexpr const char* kDefaultLandmarkModel = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

class FaceFinder {
 public:
  // landmark_model: a dlib 68-point shape predictor file; "" = none (boxes only).
  // Throws std::out_of_range when the file is missing, std::invalid_argument when it is not a
  // 68-point dlib shape predictor.
  explicit FaceFinder(const std::string& landmark_model);
  ~FaceFinder();
  FaceFinder(const FaceFinder&) = delete;
  FaceFinder& operator=(const FaceFinder&) = delete;

  bool has_landmarks() const;
  const std::string& landmark_model() const;

  // Every face in an RGB8 image (rows of `stride` bytes, 3 bytes a pixel), best score first.
  // Throws std::invalid_argument for a NULL pointer, empty or oversized image, short stride
  // or options out of range, before allocating anything.
  std::vector<Face> find(const uint8_t* rgb, int width, int height, int64_t stride,
                         const FaceOptions& opt) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks an input and options as find does (also used when face detection is not built).
void check_face_input(const uint8_t* rgb, int width, int height, int64_t stride, const FaceOptions& opt);

}  // namespace fas
