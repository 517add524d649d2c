// Fused forward and backward of the small network n(u) of bohb-das operations, batched over trials:
//   h[t,b,n,c] = relu<S>(u[t,b,n-1] w1[t,0,c] + u[t,b,n] w1[t,1,c] + u[t,b,n+1] w1[t,2,c] + shift[t,c])
//   out[t,b,n] = sum_c sum_k w2t[t,k,c] h[t,b,n+k-1,c]          (zero padding at both ends)
// BatchNorm is already folded into w1 and shift by the caller. The hidden activations are never
// stored: the backward pass recomputes them.
//
// Vectors run along the signal (positions n), channels are the scalar loop: every sum over channels
// is then a plain vector accumulation, with no horizontal reduction per position (vectorizing over
// the 32-64 channels, as before, spent most of the time in those reductions). The backward pass loops
// channels outermost over a chunk of rows, so the weight gradients stay in registers and are reduced
// once per chunk. Weight gradients are accumulated per fixed chunk of rows and summed by the caller,
// so results do not depend on the number of threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <vector>

namespace {

constexpr int64_t kRowsPerChunk = 8;
constexpr int kChannelsPerPass = 4;
constexpr int64_t kVectorBytes = 64;  // one AVX-512 register; the compiler splits it where narrower

template <typename S>
struct VectorOf;  // GCC's vector types cannot be templated directly
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(kVectorBytes)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(kVectorBytes)));
};
template <typename S>
using Vec = typename VectorOf<S>::type;

template <typename S>
constexpr int64_t kLanes = kVectorBytes / sizeof(S);

template <typename S>
inline Vec<S> load(const S* p) {
  Vec<S> v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

template <typename S>
inline void store(S* p, Vec<S> v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

template <typename S>
inline S lane_sum(Vec<S> v) {
  S s = 0;
  for (int64_t l = 0; l < kLanes<S>; ++l) s += v[l];
  return s;
}

template <typename S>
inline Vec<S> relu(Vec<S> v) {
  return v < S(0) ? Vec<S>{} : v;  // like torch.relu, NaN propagates: a diverged trial must show
}

// One signal row laid out for vector loads: its three taps u[n-1], u[n], u[n+1] at positions
// 0..padded-1, zero outside the signal.
template <typename S>
struct Taps {
  int64_t padded;
  std::vector<S> prev, mid, next;

  Taps(int64_t N) : padded((N + kLanes<S> - 1) / kLanes<S> * kLanes<S>), prev(padded), mid(padded), next(padded) {}

  void fill(const S* row, int64_t N) {
    std::fill(prev.begin(), prev.end(), S(0));
    std::fill(mid.begin(), mid.end(), S(0));
    std::fill(next.begin(), next.end(), S(0));
    for (int64_t n = 0; n < N; ++n) {
      if (n > 0) prev[n] = row[n - 1];
      mid[n] = row[n];
      if (n + 1 < N) next[n] = row[n + 1];
    }
  }
};

template <typename S>
void forward_impl(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t,
                  at::Tensor& out) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* op = out.data_ptr<S>();
  constexpr int64_t L = kLanes<S>;
  at::parallel_for(0, T * B, 1, [&](int64_t begin, int64_t end) {
    Taps<S> taps(N);
    const int64_t blocks = taps.padded / L;
    std::vector<S> z(3 * taps.padded);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / B;
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      taps.fill(up + job * N, N);
      for (int64_t k = 0; k < blocks; ++k) {
        const Vec<S> a = load(&taps.prev[k * L]), b = load(&taps.mid[k * L]), d = load(&taps.next[k * L]);
        Vec<S> z0{}, z1{}, z2{};
        for (int64_t c = 0; c < C; ++c) {
          const Vec<S> h = relu<S>(a * w1t[c] + b * w1t[C + c] + d * w1t[2 * C + c] + st[c]);
          z0 += h * w2[c];
          z1 += h * w2[C + c];
          z2 += h * w2[2 * C + c];
        }
        store(&z[k * L], z0);
        store(&z[taps.padded + k * L], z1);
        store(&z[2 * taps.padded + k * L], z2);
      }
      S* o = op + job * N;
      const S* z0 = z.data();
      const S* z1 = z0 + taps.padded;
      const S* z2 = z1 + taps.padded;
      for (int64_t n = 0; n < N; ++n) {
        o[n] = z1[n] + (n > 0 ? z0[n - 1] : S(0)) + (n + 1 < N ? z2[n + 1] : S(0));
      }
    }
  });
}

// The backward pass for channels c..c+G-1 over the rows of one chunk: their weight gradients
// accumulate in registers and are reduced once; the input gradient through each tap is accumulated
// in ``back`` (read and written once per G channels).
template <typename S, int G>
void channels_pass(int64_t c, int64_t C, int64_t rows, int64_t P, const std::vector<Taps<S>>& taps,
                   const std::vector<Taps<S>>& grads, const S* w1t, const S* st, const S* w2, std::vector<S>& back,
                   S* aw1, S* as, S* aw2) {
  constexpr int64_t L = kLanes<S>;
  S w10[G], w11[G], w12[G], s[G], v0[G], v1[G], v2[G];
  Vec<S> aw20[G], aw21[G], aw22[G], aw10[G], aw11[G], aw12[G], acc[G];
  for (int i = 0; i < G; ++i) {
    w10[i] = w1t[c + i], w11[i] = w1t[C + c + i], w12[i] = w1t[2 * C + c + i], s[i] = st[c + i];
    v0[i] = w2[c + i], v1[i] = w2[C + c + i], v2[i] = w2[2 * C + c + i];
    aw20[i] = aw21[i] = aw22[i] = aw10[i] = aw11[i] = aw12[i] = acc[i] = Vec<S>{};
  }
  for (int64_t r = 0; r < rows; ++r) {
    S* back_r = &back[r * 3 * P];
    for (int64_t m = 0; m < P; m += L) {
      const Vec<S> a = load(&taps[r].prev[m]), b = load(&taps[r].mid[m]), d = load(&taps[r].next[m]);
      const Vec<S> g0 = load(&grads[r].next[m]), g1 = load(&grads[r].mid[m]), g2 = load(&grads[r].prev[m]);
      Vec<S> t0{}, t1{}, t2{};
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) {
        const Vec<S> h = relu<S>(a * w10[i] + b * w11[i] + d * w12[i] + s[i]);
        aw20[i] += h * g0;
        aw21[i] += h * g1;
        aw22[i] += h * g2;
        const Vec<S> gh = h > S(0) ? g0 * v0[i] + g1 * v1[i] + g2 * v2[i] : Vec<S>{};
        aw10[i] += a * gh;
        aw11[i] += b * gh;
        aw12[i] += d * gh;
        acc[i] += gh;
        t0 += gh * w10[i];
        t1 += gh * w11[i];
        t2 += gh * w12[i];
      }
      store(&back_r[m], load(&back_r[m]) + t0);
      store(&back_r[P + m], load(&back_r[P + m]) + t1);
      store(&back_r[2 * P + m], load(&back_r[2 * P + m]) + t2);
    }
  }
  for (int i = 0; i < G; ++i) {
    aw2[c + i] = lane_sum<S>(aw20[i]);
    aw2[C + c + i] = lane_sum<S>(aw21[i]);
    aw2[2 * C + c + i] = lane_sum<S>(aw22[i]);
    aw1[c + i] = lane_sum<S>(aw10[i]);
    aw1[C + c + i] = lane_sum<S>(aw11[i]);
    aw1[2 * C + c + i] = lane_sum<S>(aw12[i]);
    as[c + i] = lane_sum<S>(acc[i]);
  }
}

template <typename S>
void backward_impl(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift,
                   const at::Tensor& w2t, at::Tensor& gu, at::Tensor& gw1, at::Tensor& gshift, at::Tensor& gw2t) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const int64_t chunks = (B + kRowsPerChunk - 1) / kRowsPerChunk;
  const S* gp = g.data_ptr<S>();
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* gup = gu.data_ptr<S>();
  S* gw1p = gw1.data_ptr<S>();    // (T, chunks, 3, C)
  S* gsp = gshift.data_ptr<S>();  // (T, chunks, C)
  S* gw2p = gw2t.data_ptr<S>();   // (T, chunks, 3, C)
  at::parallel_for(0, T * chunks, 1, [&](int64_t begin, int64_t end) {
    // Per row of the chunk: the input taps, the output gradient as it reaches position m through
    // each of the three taps of the second convolution (zero outside the signal), and the input
    // gradient through each tap of the first.
    std::vector<Taps<S>> taps(kRowsPerChunk, Taps<S>(N)), grads(kRowsPerChunk, Taps<S>(N));
    const int64_t P = taps[0].padded;
    std::vector<S> back(kRowsPerChunk * 3 * P);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / chunks, b0 = (job % chunks) * kRowsPerChunk;
      const int64_t rows = std::min(B, b0 + kRowsPerChunk) - b0;
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      for (int64_t r = 0; r < rows; ++r) {
        taps[r].fill(up + (t * B + b0 + r) * N, N);
        // z[m, k] feeds out[m - k + 1]: the gradient reaching z[m, 0] is g[m+1] ("next"),
        // z[m, 1] g[m] ("mid"), z[m, 2] g[m-1] ("prev").
        grads[r].fill(gp + (t * B + b0 + r) * N, N);
      }
      std::fill(back.begin(), back.end(), S(0));
      int64_t c = 0;
      for (; c + kChannelsPerPass <= C; c += kChannelsPerPass) {
        channels_pass<S, kChannelsPerPass>(c, C, rows, P, taps, grads, w1t, st, w2, back, gw1p + job * 3 * C,
                                           gsp + job * C, gw2p + job * 3 * C);
      }
      for (; c < C; ++c) {
        channels_pass<S, 1>(c, C, rows, P, taps, grads, w1t, st, w2, back, gw1p + job * 3 * C, gsp + job * C,
                            gw2p + job * 3 * C);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const S* t0 = &back[r * 3 * P];
        const S* t1 = t0 + P;
        const S* t2 = t1 + P;
        S* gurow = gup + (t * B + b0 + r) * N;
        for (int64_t n = 0; n < N; ++n) {
          gurow[n] = t1[n] + (n + 1 < N ? t0[n + 1] : S(0)) + (n > 0 ? t2[n - 1] : S(0));
        }
      }
    }
  });
}

at::Tensor fused_forward(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t) {
  auto out = at::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_forward", [&] { forward_impl<scalar_t>(u, w1, shift, w2t, out); });
  return out;
}

std::vector<at::Tensor> fused_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1,
                                       const at::Tensor& shift, const at::Tensor& w2t) {
  const int64_t T = u.size(0), B = u.size(1), C = w1.size(2);
  const int64_t chunks = (B + kRowsPerChunk - 1) / kRowsPerChunk;
  auto gu = at::empty_like(u);
  auto gw1 = at::empty({T, chunks, 3, C}, u.options());
  auto gshift = at::empty({T, chunks, C}, u.options());
  auto gw2t = at::empty({T, chunks, 3, C}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_backward", [&] {
    backward_impl<scalar_t>(g, u, w1, shift, w2t, gu, gw1, gshift, gw2t);
  });
  return {gu, gw1.sum(1), gshift.sum(1), gw2t.sum(1)};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &fused_forward, "fused small-net forward");
  m.def("backward", &fused_backward, "fused small-net backward (recomputes the hidden layer)");
}
