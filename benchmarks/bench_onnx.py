"""Exported ONNX graphs against skrnn's own predict: file size, agreement, throughput.

    python benchmarks/bench_onnx.py [--repeats 7] [--sequences 1000] [--hidden 32 128]

For each cell and hidden size, fits an RNNClassifier briefly on float32
ragged sequences (8 features, lengths uniform in 20..100), exports it with
``skrnn.onnx.to_onnx`` and times ``predict_proba`` against onnxruntime on the
same sequences (one thread each: skrnn's predict pins its BLAS to one thread,
onnxruntime gets ``intra_op_num_threads=1``). The runs alternate, skrnn then
onnxruntime, and the medians are printed; the onnxruntime column times the
padding (``pad_sequences``) too, the column beside it the graph alone.
"""

import argparse
import time
import warnings

import numpy as np
import onnxruntime as ort

from skrnn import RNNClassifier
from skrnn.onnx import pad_sequences, to_onnx


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 101, size=n)
    X = [rng.normal(size=(t, 8)).astype(np.float32) for t in lengths]
    y = rng.integers(0, 5, size=n)
    return X, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    args = parser.parse_args()
    X_fit, y_fit = make_data(200, seed=1)
    X, _ = make_data(args.sequences)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    print(f"{args.sequences} sequences, {sum(len(x) for x in X)} steps; median "
          f"of {args.repeats} alternating runs")
    print("| cell | H | file (kB) | max abs diff | skrnn (seq/s) | "
          "onnxruntime (seq/s) | graph only (seq/s) | onnxruntime / skrnn |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cell in args.cells:
        for hidden in args.hidden:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # The network the recorded figures were measured on.
                clf = RNNClassifier((hidden,), cell=cell, max_iter=1,
                                    bidirectional=False, readout="last",
                                    random_state=0).fit(X_fit, y_fit)
            blob = to_onnx(clf).SerializeToString()
            session = ort.InferenceSession(blob, options,
                                           providers=["CPUExecutionProvider"])
            t_skrnn, t_ort, t_graph = [], [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                expected = clf.predict_proba(X)
                t_skrnn.append(time.perf_counter() - start)
                start = time.perf_counter()
                padded, lengths = pad_sequences(X)
                padded_at = time.perf_counter()
                _, proba = session.run(None, {"X": padded, "lengths": lengths})
                end = time.perf_counter()
                t_ort.append(end - start)
                t_graph.append(end - padded_at)
            n = len(X)
            skrnn_rate = n / np.median(t_skrnn)
            ort_rate = n / np.median(t_ort)
            print(f"| {cell} | {hidden} | {len(blob) / 1024:.1f} | "
                  f"{np.max(np.abs(proba - expected)):.1e} | {skrnn_rate:.0f} | "
                  f"{ort_rate:.0f} | {n / np.median(t_graph):.0f} | "
                  f"{ort_rate / skrnn_rate:.2f} |")


if __name__ == "__main__":
    main()
