// Linked into every Strongroom binary; it does something only under --config=asan (gcc) or
// --config=fuzz (clang, which spells the test __has_feature).
//
// Debian's libcrypto keeps per-thread state: random generators (DRBGs, made by
// RAND_get0_public/RAND_get0_private and EVP_RAND_instantiate) and error queues (made by
// ERR_clear_error/ERR_set_mark). It frees them when a thread ends through OpenSSL's thread
// cleanup, which gRPC's and the HTTP server's threads still running at exit never reach. They
// are per-thread caches, never per-request memory; any other leak still fails the
// sanitizer build.
// Debian's libcrypto has no frame pointers, so unwinding on malloc must be full for the
// suppression to see that frame.
#if defined(__SANITIZE_ADDRESS__)
#define STRONGROOM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRONGROOM_ASAN 1
#endif
#endif
#if defined(STRONGROOM_ASAN)
extern "C" const char* __lsan_default_suppressions() {
  return "leak:EVP_RAND_instantiate\n"
         "leak:RAND_get0_public\n"
         "leak:RAND_get0_private\n"
         "leak:ERR_clear_error\n"
         "leak:ERR_set_mark\n";
}
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
#endif
