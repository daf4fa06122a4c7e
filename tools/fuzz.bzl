"""cc_fuzzer: a libFuzzer target, built only with --config=fuzz (clang-14, see tools/fuzz.sh)."""

def cc_fuzzer(name, srcs, deps = [], **kwargs):
    """A cc_binary `name` whose srcs define LLVMFuzzerTestOneInput.

    Tagged manual (so `bazel build //...` with gcc skips it) and fuzzer (so tools/fuzz.sh
    finds it). Its seed corpus is the folder testdata/fuzz/<name> of the same package.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + ["//third_party/system:openssl_lsan"],
        linkopts = ["-fsanitize=fuzzer"],
        testonly = True,
        tags = ["manual", "fuzzer"],
        **kwargs
    )
