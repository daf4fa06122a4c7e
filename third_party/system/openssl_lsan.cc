// Linked into every Strongroom binary; it does something only under --config=asan.
//
// Debian's libcrypto keeps per-thread random generators (DRBGs, created by
// EVP_RAND_instantiate) for the life of the process and, once a library such as cpp-httplib
// or gRPC has initialised it, does not free them at exit. They are process-lifetime
// objects, never per-request memory; any other leak still fails the sanitizer build.
// Debian's libcrypto has no frame pointers, so unwinding on malloc must be full for the
// suppression to see that frame.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __lsan_default_suppressions() { return "leak:EVP_RAND_instantiate\n"; }
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
#endif
