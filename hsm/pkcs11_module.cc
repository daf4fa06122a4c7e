#include "hsm/pkcs11_module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hsm/ck_rv.h"

namespace strongroom::hsm {
namespace {

constexpr char kRvPayload[] = "type.strongroom.dev/pkcs11.ck_rv";

}  // namespace

absl::Status StatusFromRv(const char* function, CK_RV rv) {
  if (rv == CKR_OK) return absl::OkStatus();
  absl::Status status(CkRvCode(rv), absl::StrCat(function, ": ", CkRvName(rv)));
  status.SetPayload(kRvPayload, absl::Cord(absl::StrCat(rv)));
  return status;
}

CK_RV RvOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRvPayload);
  unsigned long rv = CKR_OK;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &rv)) return CKR_OK;
  return rv;
}

absl::StatusOr<std::unique_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("PKCS#11 module ", path, " not found: ", std::strerror(errno)));
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load PKCS#11 module ", path, ": ", dlerror()));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  if (get_list == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a PKCS#11 module (no C_GetFunctionList)"));
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": C_GetFunctionList failed: ", CkRvName(rv)));
  }
  std::unique_ptr<Pkcs11Module> module(new Pkcs11Module(path, handle, functions));
  if (absl::Status s = module->Initialize(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("PKCS#11 module ", path, ": ", s.message()));
  }
  return module;
}

absl::Status Pkcs11Module::Initialize() {
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  absl::Status s = SR_P11(*this, C_Initialize, &args);
  // Another user in this process initialised it already: share it, never finalise it.
  if (RvOf(s) == CKR_CRYPTOKI_ALREADY_INITIALIZED) return absl::OkStatus();
  if (s.ok()) initialized_ = true;
  return s;
}

absl::Status Pkcs11Module::Reinitialize() {
  if (initialized_) {
    (void)SR_P11(*this, C_Finalize, nullptr);  // Failing here only means it is gone already.
    initialized_ = false;
  }
  return Initialize();
}

Pkcs11Module::~Pkcs11Module() {
  if (initialized_) functions_->C_Finalize(nullptr);
  // The module stays mapped: some modules register atexit handlers or threads that would
  // run unmapped code after dlclose.
}

}  // namespace strongroom::hsm
