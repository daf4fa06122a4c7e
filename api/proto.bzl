"""cc_grpc_proto: compiles .proto files with Debian's protoc and grpc_cpp_plugin."""

def cc_grpc_proto(name, srcs, deps = [], grpc = True, visibility = None):
    """Generates C++ messages (and gRPC stubs when grpc=True) for srcs as cc_library `name`.

    Imports resolve against this package's folder, Debian's google/protobuf protos and
    /usr/share/grpc-proto. deps are other cc_grpc_proto targets whose protos srcs import.
    """
    root = native.package_name()
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    plugin = ""
    if grpc:
        plugin = " --grpc_out=$(GENDIR)/%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" % root
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in deps],
        outs = outs,
        cmd = ("/usr/bin/protoc --proto_path=%s --proto_path=/usr/share/grpc-proto " +
               "--cpp_out=$(GENDIR)/%s%s %s") % (
            root,
            root,
            plugin,
            " ".join(["%s/%s" % (root, s) for s in srcs]),
        ),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["//third_party/system:grpc"],
        visibility = visibility,
    )
