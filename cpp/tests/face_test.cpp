// The face-detection C ABI: argument checks, capacity and stride handling, concurrent finds
// on one finder, and a real photo (build/testdata/faces, from `make deps`). A shim built
// without dlib must refuse with FAS_ERR_UNSUPPORTED, and that is what this test checks then.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fas/fas.h"
#include "check.h"

// CMake defines FAS_WITH_FACE for this test when the shim has face detection (and so links
// dlib, whose loader reads the photo).
#ifdef FAS_WITH_FACE
#include <dlib/image_io.h>
#endif

namespace {

using fas_test::check;
using fas_test::expect;
using fas_test::failures;

void test_not_built() {
  fas_face_finder* f = reinterpret_cast<fas_face_finder*>(1);
  expect(fas_face_finder_new(nullptr, &f), FAS_ERR_UNSUPPORTED, "not built: new",
         "face detection not built (install libdlib-dev");
  check(f == nullptr, "not built: no handle");
  uint8_t px[3] = {};
  int count = -1;
  expect(fas_face_find(nullptr, px, 1, 1, 3, nullptr, nullptr, 0, &count), FAS_ERR_INVALID_ARGUMENT,
         "not built: find on NULL", "NULL");
  fas_face_finder_free(nullptr);
}

struct Photo {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
};

bool load_photo(Photo& p) {
  const char* env = std::getenv("FASGO_TESTDATA");
  const std::string path = std::string(env ? env : "testdata") + "/faces/grace_hopper_512x512.jpg";
  if (!std::ifstream(path)) {
    check(false, path + " is missing: run `make deps` (scripts/testdata.sh)");
    return false;
  }
#ifdef FAS_WITH_FACE
  dlib::array2d<dlib::rgb_pixel> img;
  dlib::load_image(img, path);
  p.w = static_cast<int>(img.nc());
  p.h = static_cast<int>(img.nr());
  p.rgb.resize(3 * static_cast<size_t>(p.w) * p.h);
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) {
      uint8_t* d = &p.rgb[3 * (static_cast<size_t>(y) * p.w + x)];
      d[0] = img[y][x].red;
      d[1] = img[y][x].green;
      d[2] = img[y][x].blue;
    }
  return true;
#else
  check(false, "this test was compiled without FAS_WITH_FACE although the shim has face detection: reconfigure");
  return false;
#endif
}

void test_arguments(fas_face_finder* f) {
  std::vector<uint8_t> px(3 * 64 * 64, 0);
  fas_face out[4];
  int count = -1;
  expect(fas_face_find(nullptr, px.data(), 64, 64, 192, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "NULL finder", "NULL");
  expect(fas_face_find(f, nullptr, 64, 64, 192, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT, "NULL image",
         "image is NULL");
  expect(fas_face_find(f, px.data(), 0, 64, 192, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "zero width", "empty");
  expect(fas_face_find(f, px.data(), 64, -3, 192, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "negative height", "empty");
  // Far more pixels than the buffer holds, refused from the sizes alone (nothing read).
  expect(fas_face_find(f, px.data(), 1 << 20, 1 << 20, 3 << 20, nullptr, out, 4, &count),
         FAS_ERR_INVALID_ARGUMENT, "1M x 1M pixels", "larger than");
  expect(fas_face_find(f, px.data(), 46341, 46341, 3 * 46341, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "w*h overflowing int32", "larger than");
  expect(fas_face_find(f, px.data(), 64, 64, 191, nullptr, out, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "stride < 3 x width", "stride");
  expect(fas_face_find(f, px.data(), 64, 64, 192, nullptr, out, -1, &count), FAS_ERR_INVALID_ARGUMENT,
         "negative capacity", "capacity");
  expect(fas_face_find(f, px.data(), 64, 64, 192, nullptr, nullptr, 4, &count), FAS_ERR_INVALID_ARGUMENT,
         "NULL faces with capacity 4", "face array");
  expect(fas_face_find(f, px.data(), 64, 64, 192, nullptr, out, 4, nullptr), FAS_ERR_INVALID_ARGUMENT,
         "NULL count", "count");
  fas_face_options o{};
  o.upsample = 3;
  expect(fas_face_find(f, px.data(), 64, 64, 192, &o, out, 4, &count), FAS_ERR_INVALID_ARGUMENT, "upsample 3",
         "upsample");
  o.upsample = 0;
  o.min_score = std::nan("");
  expect(fas_face_find(f, px.data(), 64, 64, 192, &o, out, 4, &count), FAS_ERR_INVALID_ARGUMENT, "NaN min score",
         "min score");
  count = -1;
  expect(fas_face_find(f, px.data(), 64, 64, 192, nullptr, out, 4, &count), FAS_OK, "a blank image");
  check(count == 0, "a blank image has no face (count " + std::to_string(count) + ")");
  expect(fas_face_find(f, px.data(), 64, 64, 192, nullptr, nullptr, 0, &count), FAS_OK,
         "capacity 0 with NULL faces");
}

bool same(const fas_face& a, const fas_face& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void test_photo(fas_face_finder* f, const Photo& p) {
  const int stride = 3 * p.w;
  int count = -1;
  expect(fas_face_find(f, p.rgb.data(), p.w, p.h, stride, nullptr, nullptr, 0, &count), FAS_OK,
         "count only (capacity 0)");
  check(count == 1, "Grace Hopper: 1 face (count " + std::to_string(count) + ")");
  fas_face face{};
  expect(fas_face_find(f, p.rgb.data(), p.w, p.h, stride, nullptr, &face, 1, &count), FAS_OK, "find");
  // The face lies around (269, 221), about 216 px wide (see go/internal/shim/face_test.go
  // for the comparison with OpenCV).
  const float cx = (face.x0 + face.x1) / 2, cy = (face.y0 + face.y1) / 2, side = face.x1 - face.x0;
  check(std::fabs(cx - 269) < 20 && std::fabs(cy - 221) < 20 && side > 170 && side < 260 && face.score > 1,
        "box (" + std::to_string(face.x0) + ", " + std::to_string(face.y0) + ")-(" + std::to_string(face.x1) + ", " +
            std::to_string(face.y1) + ") score " + std::to_string(face.score));
  check(face.has_landmarks == 1, "landmarks with the default model");
  bool inside = true;
  for (int k = 0; k < 5; ++k)
    inside = inside && face.landmarks[2 * k] > face.x0 && face.landmarks[2 * k] < face.x1 &&
             face.landmarks[2 * k + 1] > face.y0 && face.landmarks[2 * k + 1] < face.y1;
  check(inside && face.landmarks[0] < face.landmarks[2] && face.landmarks[5] < face.landmarks[7],
        "landmarks inside the box, left eye left of the right one, nose above the mouth");
  // The 68 points: the 5 landmarks are their eye means (36-41, 42-47), nose tip 30 and mouth
  // corners 48, 54; the jaw (0-16) runs left to right below the eyes.
  auto mean6 = [&](int from, int c) {
    double m = 0;
    for (int i = from; i < from + 6; ++i) m += face.points[2 * i + c];
    return m / 6;
  };
  const double five[10] = {mean6(36, 0), mean6(36, 1), mean6(42, 0), mean6(42, 1), face.points[60], face.points[61],
                           face.points[96], face.points[97], face.points[108], face.points[109]};
  double worst = 0;
  for (int k = 0; k < 10; ++k) worst = std::max(worst, std::fabs(five[k] - face.landmarks[k]));
  check(worst < 1e-3 && face.points[0] < face.points[32] && face.points[17] > face.landmarks[1],
        "the 5 landmarks follow from the 68 points (worst " + std::to_string(worst) + ")");

  // Rows with padding: the same result.
  const int padded = stride + 13;
  std::vector<uint8_t> buf(static_cast<size_t>(padded) * p.h, 0xAB);
  for (int y = 0; y < p.h; ++y) std::memcpy(&buf[static_cast<size_t>(y) * padded], &p.rgb[static_cast<size_t>(y) * stride], stride);
  fas_face face2{};
  expect(fas_face_find(f, buf.data(), p.w, p.h, padded, nullptr, &face2, 1, &count), FAS_OK, "padded rows");
  check(count == 1 && same(face, face2), "padded rows find the same face");

  // Concurrent finds on one finder give the serial result.
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 2; ++r) {
        fas_face got{};
        int n = 0;
        fas_status* s = fas_face_find(f, p.rgb.data(), p.w, p.h, stride, nullptr, &got, 1, &n);
        ok[t] += s == nullptr && n == 1 && same(got, face);
        fas_status_free(s);
      }
    });
  for (auto& th : threads) th.join();
  check(ok == std::vector<int>(4, 2), "4 threads x 2 finds on one finder");

  // Without landmarks: the same box.
  fas_face_finder* bare = nullptr;
  expect(fas_face_finder_new("", &bare), FAS_OK, "finder without landmarks");
  fas_face face3{};
  expect(fas_face_find(bare, p.rgb.data(), p.w, p.h, stride, nullptr, &face3, 1, &count), FAS_OK, "find without landmarks");
  check(face3.has_landmarks == 0 && face3.x0 == face.x0 && face3.y1 == face.y1 && face3.score == face.score,
        "no landmarks, same box");
  fas_face_finder_free(bare);
}

void test_built() {
  check(std::string(fas_face_backend()).rfind("dlib ", 0) == 0,
        std::string("backend \"") + fas_face_backend() + "\"");
  expect(fas_face_finder_new(nullptr, nullptr), FAS_ERR_INVALID_ARGUMENT, "NULL output");
  fas_face_finder* f = nullptr;
  expect(fas_face_finder_new("/nonexistent/model.dat", &f), FAS_ERR_NOT_FOUND, "missing landmark model",
         "/nonexistent/model.dat");
  check(f == nullptr, "no handle after a failure");
  expect(fas_face_finder_new(nullptr, &f), FAS_OK, "default finder");
  fas_face_finder_info info{};
  expect(fas_face_finder_get_info(f, &info), FAS_OK, "info");
  const bool have_model = static_cast<bool>(std::ifstream("/usr/share/dlib/shape_predictor_68_face_landmarks.dat"));
  check(have_model, "the landmark model is installed (libdlib-data; run `make deps`)");
  check(info.has_landmarks == have_model && (!have_model || std::string(info.landmark_model).find("shape_predictor_68") != std::string::npos),
        std::string("default landmark model \"") + info.landmark_model + "\"");
  expect(fas_face_finder_get_info(nullptr, &info), FAS_ERR_INVALID_ARGUMENT, "info of NULL");
  expect(fas_face_finder_get_info(f, nullptr), FAS_ERR_INVALID_ARGUMENT, "info into NULL");
  test_arguments(f);
  Photo p;
  if (load_photo(p)) test_photo(f, p);
  fas_face_finder_free(f);
  fas_face_finder_free(nullptr);
}

}  // namespace

int main() {
  check(fas_abi_version() == FAS_ABI_VERSION, "ABI version");
  if (std::string(fas_face_backend()).empty()) {
    std::printf("shim built without face detection: checking its refusal\n");
    test_not_built();
  } else {
    test_built();
  }
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
