"""cc_grpc_proto: compiles .proto files with Debian's protoc and grpc_cpp_plugin."""

def cc_grpc_proto(name, srcs, deps = [], grpc = True, root = None, visibility = None):
    """Generates C++ messages (and gRPC stubs when grpc=True) for srcs as cc_library `name`.

    Imports resolve against `root` (default: this package's folder, so api/strongroom/v1/x.proto
    is imported and included as strongroom/v1/x; pass root = "" for workspace-relative paths
    such as kms/records.proto), Debian's /usr/include (google/protobuf) and /usr/share/grpc-proto.
    deps are other cc_grpc_proto targets whose protos srcs import.
    """
    pkg = native.package_name()
    if root == None:
        root = pkg
    rel = pkg[len(root):].lstrip("/") if pkg.startswith(root) else fail("root must contain the package")
    proto_path = root if root else "."
    out_dir = "$(GENDIR)/" + root if root else "$(GENDIR)"
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    plugin = ""
    if grpc:
        plugin = " --grpc_out=%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" % out_dir
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in deps],
        outs = outs,
        cmd = ("/usr/bin/protoc --proto_path=%s --proto_path=/usr/include " +
               "--proto_path=/usr/share/grpc-proto --cpp_out=%s%s %s") % (
            proto_path,
            out_dir,
            plugin,
            " ".join(["%s/%s" % (pkg, s) for s in srcs]),
        ),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."] if root == pkg else [],
        deps = deps + ["//third_party/system:grpc"],
        visibility = visibility,
    )
