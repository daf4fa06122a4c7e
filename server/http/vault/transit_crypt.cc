// Encrypt, decrypt, rewrap and datakey: Vault's single and batch forms over the engine's
// batch calls.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/cleanse_message.h"
#include "hsm/secret_data.h"
#include "server/http/vault/transit.h"
#include "server/http/vault/transit_internal.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using transit_internal::kMaxVersion;
using transit_internal::ReservedMount;

// ---------------------------------------------------------------------------------------
// Batches: Vault's single form is a batch of one that answers with data.<field> or errors.

// Input and output bytes are cleansed when the item goes.
struct Item {
  Item() = default;
  Item(Item&&) = default;
  Item& operator=(Item&&) = default;
  ~Item() {
    for (std::string* s : {&text, &context, &associated_data, &result}) hsm::CleanseString(s);
  }

  // Input.
  std::string text;  // plaintext (decoded) or ciphertext
  std::string context;
  std::string associated_data;
  std::string reference;
  uint32_t key_version = 0;
  // Output.
  std::string error;
  bool internal = false;  // error is the server's, not the input's
  std::string result;     // ciphertext, or plaintext (raw)
  uint32_t result_version = 0;
};

struct Batch {
  bool is_batch = false;
  std::vector<Item> items;
  std::optional<int64_t> partial_failure_code;
};

enum class Op { kEncrypt, kDecrypt, kRewrap };

absl::string_view OpName(Op op) {
  switch (op) {
    case Op::kEncrypt:
      return "encrypt";
    case Op::kDecrypt:
      return "decrypt";
    case Op::kRewrap:
      return "rewrap";
  }
  return "";
}

// Reads one item (the body itself in the single form) into *item. Field problems of the
// request's shape (wrong types) fail the request; input values that do not decode become
// the item's error, as in Vault.
absl::Status ReadItem(Op op, const Struct& s, const std::string& prefix, uint32_t default_version,
                      bool single, Item* item) {
  const char* text_field = op == Op::kEncrypt ? "plaintext" : "ciphertext";
  auto text = GetString(s, text_field, absl::StrCat(prefix, text_field));
  if (!text.ok()) return text.status();
  auto context = GetString(s, "context", absl::StrCat(prefix, "context"));
  if (!context.ok()) return context.status();
  auto aad = GetString(s, "associated_data", absl::StrCat(prefix, "associated_data"));
  if (!aad.ok()) return aad.status();
  auto nonce = GetString(s, "nonce", absl::StrCat(prefix, "nonce"));
  if (!nonce.ok()) return nonce.status();
  auto reference = GetString(s, "reference", absl::StrCat(prefix, "reference"));
  if (!reference.ok()) return reference.status();
  auto version = GetUint(s, "key_version", absl::StrCat(prefix, "key_version"), kMaxVersion);
  if (!version.ok()) return version.status();

  if (*text == nullptr || (op != Op::kEncrypt && (*text)->empty())) {
    std::string missing = op == Op::kEncrypt ? "missing plaintext to encrypt"
                                             : absl::StrCat("missing ciphertext to ", OpName(op));
    if (single) return absl::InvalidArgumentError(missing);
    item->error = missing;
  }
  item->reference = *reference != nullptr ? **reference : "";
  item->key_version = version->has_value() ? static_cast<uint32_t>(**version) : default_version;
  if (!item->error.empty()) return absl::OkStatus();
  if (op == Op::kEncrypt) {
    if (!DecodeBase64(**text, &item->text)) {
      item->error = "plaintext: not valid base64";
      return absl::OkStatus();
    }
  } else {
    item->text = **text;
  }
  if (*context != nullptr && !DecodeBase64(**context, &item->context)) {
    item->error = "context: not valid base64";
    return absl::OkStatus();
  }
  if (*aad != nullptr && !DecodeBase64(**aad, &item->associated_data)) {
    item->error = "associated_data: not valid base64";
    return absl::OkStatus();
  }
  if (*nonce != nullptr && !(*nonce)->empty()) {
    item->error = "provided nonce not allowed for this key";
  }
  return absl::OkStatus();
}

absl::StatusOr<Batch> ReadBatch(Op op, const Struct& body) {
  Batch batch;
  auto version = GetUint(body, "key_version", "key_version", kMaxVersion);
  if (!version.ok()) return version.status();
  uint32_t default_version = static_cast<uint32_t>(version->value_or(0));
  if (const Value* code = Field(body, "partial_failure_response_code"); code != nullptr) {
    // Only a final status with a body keeps the framing intact: 1xx, 204 and 304 would not.
    auto c =
        GetUint(body, "partial_failure_response_code", "partial_failure_response_code", INT32_MAX);
    if (!c.ok() || **c < 200 || **c > 599 || **c == 204 || **c == 304) {
      return absl::InvalidArgumentError(
          "partial_failure_response_code: must be a status code from 200 to 599 other than "
          "204 and 304");
    }
    batch.partial_failure_code = static_cast<int64_t>(**c);
  }
  const Value* input = Field(body, "batch_input");
  if (input == nullptr) {
    Item item;
    if (absl::Status s = ReadItem(op, body, "", default_version, true, &item); !s.ok()) return s;
    batch.items.push_back(std::move(item));
    return batch;
  }
  batch.is_batch = true;
  if (input->kind_case() != Value::kListValue) return TypeError("batch_input", "an array");
  const ListValue& list = input->list_value();
  if (list.values_size() == 0) return absl::InvalidArgumentError("missing batch input to process");
  bool first_has_context = false;
  for (int i = 0; i < list.values_size(); ++i) {
    std::string prefix = absl::StrCat("batch_input[", i, "].");
    const Value& v = list.values(i);
    if (v.kind_case() != Value::kStructValue) {
      return TypeError(absl::StrCat("batch_input[", i, "]"), "an object");
    }
    Item item;
    if (absl::Status s = ReadItem(op, v.struct_value(), prefix, default_version, false, &item);
        !s.ok()) {
      return s;
    }
    const Value* ctx = Field(v.struct_value(), "context");
    bool has_context = ctx != nullptr && !ctx->string_value().empty();
    if (i == 0) first_has_context = has_context;
    if (has_context != first_has_context) {
      return absl::InvalidArgumentError(
          "context should be set either in all the request blocks or in none");
    }
    batch.items.push_back(std::move(item));
  }
  return batch;
}

bool IsInternal(int code) {
  switch (static_cast<absl::StatusCode>(code)) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
      return true;
    default:
      return false;
  }
}

void SetItemError(Item* item, const v1::ItemError& error) {
  item->error = error.message().empty() ? "failed" : error.message();
  item->internal = IsInternal(error.code());
}

// The Vault answer for a processed batch (or single item).
HttpResponse BatchResponse(Op op, const Batch& batch) {
  bool user_error = false, internal_error = false, success = false;
  uint32_t used_version = 0;
  for (const Item& item : batch.items) {
    if (item.error.empty()) {
      success = true;
      if (used_version == 0) used_version = item.result_version;
    } else if (item.internal) {
      internal_error = true;
    } else {
      user_error = true;
    }
  }
  HttpResponse response;
  if (!batch.is_batch) {
    const Item& item = batch.items[0];
    if (!item.error.empty()) return JsonErrors(item.internal ? 500 : 400, {item.error});
    Json data = Json::Object();
    if (op == Op::kDecrypt) {
      data.Set("plaintext", absl::Base64Escape(item.result));
    } else {
      data.Set("ciphertext", item.result).Set("key_version", item.result_version);
    }
    response = Envelope(200, std::move(data));
  } else {
    Json results = Json::Array();
    for (const Item& item : batch.items) {
      Json r = Json::Object();
      if (op == Op::kDecrypt) {
        r.Set("plaintext", item.error.empty() ? absl::Base64Escape(item.result) : "");
      } else if (item.error.empty()) {
        r.Set("ciphertext", item.result).Set("key_version", item.result_version);
      }
      if (!item.error.empty()) r.Set("error", item.error);
      r.Set("reference", item.reference);
      results.Push(std::move(r));
    }
    int status = 200;
    if (user_error || internal_error) {
      status = user_error ? 400 : 500;
      if (batch.partial_failure_code.has_value() && success) {
        status = static_cast<int>(*batch.partial_failure_code);
      }
    }
    response = Envelope(status, Json::Object().Set("batch_results", std::move(results)));
  }
  response.key_version = used_version;  // for the audit record
  return response;
}

}  // namespace

namespace {

// Whether an engine error that failed a whole engine call belongs to the items (bad version,
// wrong key type) rather than to the request. A NotFound is the request's only when the key
// itself is missing; `key_missing` is then the Vault answer.
std::optional<HttpResponse> RequestLevelError(kms::Transit* transit, const absl::Status& s,
                                              const std::string& key_name,
                                              const char* key_missing) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return std::nullopt;
    case absl::StatusCode::kNotFound: {
      v1::GetKeyRequest get;
      get.set_name(key_name);
      absl::StatusOr<v1::Key> key = transit->GetKey(get);
      if (key.ok()) return std::nullopt;
      if (absl::IsNotFound(key.status())) return JsonErrors(400, {key_missing});
      return StatusError(key.status());
    }
    default:
      return StatusError(s);
  }
}

// Every pending item (no error yet) by the key version it asks for.
std::map<uint32_t, std::vector<size_t>> PendingByVersion(const Batch& batch) {
  std::map<uint32_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < batch.items.size(); ++i) {
    if (batch.items[i].error.empty()) groups[batch.items[i].key_version].push_back(i);
  }
  return groups;
}

constexpr char kEncryptionKeyNotFound[] = "encryption key not found";

// Like Vault, a missing key fails the request even when every item failed on its input.
std::optional<HttpResponse> CheckKeyExists(kms::Transit* transit, const std::string& key_name) {
  v1::GetKeyRequest get;
  get.set_name(key_name);
  absl::StatusOr<v1::Key> key = transit->GetKey(get);
  if (key.ok()) return std::nullopt;
  if (absl::IsNotFound(key.status())) return JsonErrors(400, {kEncryptionKeyNotFound});
  return StatusError(key.status());
}

// Encrypt and Rewrap: the items, grouped by requested key version, go to the engine one
// group per call; `set_input` puts an item's text (plaintext or ciphertext) in a request item.
template <typename Request, typename Response, typename SetInput>
HttpResponse ProduceCiphertexts(kms::Transit* transit, Op op, const HttpRequest& request,
                                absl::StatusOr<Response> (kms::Transit::*call)(const Request&),
                                SetInput set_input) {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<Batch> batch = ReadBatch(op, *body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string key_name = PathParam(request, "key");
  auto groups = PendingByVersion(*batch);
  if (groups.empty()) {
    if (auto e = CheckKeyExists(transit, key_name)) return *e;
  }
  for (const auto& [version, indexes] : groups) {
    Request req;
    absl::Cleanup cleanse_req = [&req] { hsm::CleanseMessage(&req); };
    req.set_key_name(key_name);
    req.set_key_version(version);
    for (size_t i : indexes) {  // the items' bytes move into the request: no copies
      Item& item = batch->items[i];
      auto* in = req.add_items();
      set_input(in, &item.text);
      in->mutable_context()->swap(item.context);
      in->mutable_associated_data()->swap(item.associated_data);
    }
    absl::StatusOr<Response> resp = (transit->*call)(req);
    if (!resp.ok()) {
      if (auto e = RequestLevelError(transit, resp.status(), key_name, kEncryptionKeyNotFound)) {
        return *e;
      }
      for (size_t i : indexes) batch->items[i].error = std::string(resp.status().message());
      continue;
    }
    for (size_t k = 0; k < indexes.size() && k < static_cast<size_t>(resp->results_size()); ++k) {
      const v1::EncryptResponse::Result& r = resp->results(static_cast<int>(k));
      Item& item = batch->items[indexes[k]];
      if (r.has_error()) {
        SetItemError(&item, r.error());
      } else {
        item.result = r.ciphertext();
        item.result_version = r.key_version();
      }
    }
  }
  return BatchResponse(op, *batch);
}

}  // namespace

HttpResponse TransitApi::Encrypt(const HttpRequest& request) const {
  return ProduceCiphertexts(transit_, Op::kEncrypt, request, &kms::Transit::Encrypt,
                            [](v1::EncryptRequest::Item* in, std::string* text) {
                              in->mutable_plaintext()->swap(*text);
                            });
}

HttpResponse TransitApi::Decrypt(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<Batch> batch = ReadBatch(Op::kDecrypt, *body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string key_name = PathParam(request, "key");
  std::vector<size_t> pending;
  for (size_t i = 0; i < batch->items.size(); ++i) {
    if (batch->items[i].error.empty()) pending.push_back(i);
  }
  if (pending.empty()) {
    if (auto e = CheckKeyExists(transit_, key_name)) return *e;
  } else {
    v1::DecryptRequest req;
    absl::Cleanup cleanse_req = [&req] { hsm::CleanseMessage(&req); };
    req.set_key_name(key_name);
    for (size_t i : pending) {  // the items' bytes move into the request: no copies
      Item& item = batch->items[i];
      v1::DecryptRequest::Item* in = req.add_items();
      in->mutable_ciphertext()->swap(item.text);
      in->mutable_context()->swap(item.context);
      in->mutable_associated_data()->swap(item.associated_data);
    }
    absl::StatusOr<v1::DecryptResponse> resp = transit_->Decrypt(req);
    absl::Cleanup cleanse_resp = [&resp] {
      if (resp.ok()) hsm::CleanseMessage(&*resp);
    };
    if (!resp.ok()) {
      if (auto e = RequestLevelError(transit_, resp.status(), key_name, kEncryptionKeyNotFound)) {
        return *e;
      }
      for (size_t i : pending) batch->items[i].error = std::string(resp.status().message());
    } else {
      for (size_t k = 0; k < pending.size() && k < static_cast<size_t>(resp->results_size()); ++k) {
        v1::DecryptResponse::Result& r = *resp->mutable_results(static_cast<int>(k));
        Item& item = batch->items[pending[k]];
        if (r.has_error()) {
          SetItemError(&item, r.error());
        } else {
          item.result.swap(*r.mutable_plaintext());
          item.result_version = r.key_version();
        }
      }
    }
  }
  return BatchResponse(Op::kDecrypt, *batch);
}

HttpResponse TransitApi::Rewrap(const HttpRequest& request) const {
  return ProduceCiphertexts(transit_, Op::kRewrap, request, &kms::Transit::Rewrap,
                            [](v1::RewrapRequest::Item* in, std::string* text) {
                              in->mutable_ciphertext()->swap(*text);
                            });
}

HttpResponse TransitApi::DataKey(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  const std::string type = PathParam(request, "type");
  if (type != "plaintext" && type != "wrapped") {
    return JsonErrors(400, {"Invalid path, must be 'plaintext' or 'wrapped'"});
  }
  v1::GenerateDataKeyRequest req;
  req.set_key_name(PathParam(request, "key"));
  req.set_include_plaintext(type == "plaintext");
  auto bits = GetUint(body, "bits", "bits", 4096);
  if (!bits.ok()) return StatusError(bits.status());
  if (bits->has_value() && **bits != 128 && **bits != 256 && **bits != 512) {
    return JsonErrors(400, {"invalid bit length: bits must be 128, 256 or 512"});
  }
  req.set_bits(static_cast<uint32_t>(bits->value_or(256)));
  auto version = GetUint(body, "key_version", "key_version", kMaxVersion);
  if (!version.ok()) return StatusError(version.status());
  req.set_key_version(static_cast<uint32_t>(version->value_or(0)));
  if (absl::Status s = transit_internal::DecodeField(body, "context", req.mutable_context());
      !s.ok()) {
    return StatusError(s);
  }
  for (const char* unsupported : {"nonce", "associated_data"}) {
    auto v = GetString(body, unsupported, unsupported);
    if (!v.ok()) return StatusError(v.status());
    if (*v != nullptr && !(*v)->empty()) {
      return JsonErrors(400, {absl::StrCat(unsupported, ": not supported for data keys")});
    }
  }
  absl::StatusOr<v1::GenerateDataKeyResponse> resp = transit_->GenerateDataKey(req);
  absl::Cleanup cleanse = [&resp] {
    if (resp.ok()) hsm::CleanseMessage(&*resp);
  };
  if (!resp.ok()) {
    if (absl::IsNotFound(resp.status())) {
      transit_internal::KeyOrAnswer k =
          transit_internal::FindKey(transit_, req.key_name(), kEncryptionKeyNotFound);
      if (!k.key.has_value()) return k.answer;
      return JsonErrors(400, {std::string(resp.status().message())});  // a version, not the key
    }
    return StatusError(resp.status());
  }
  Json data =
      Json::Object().Set("ciphertext", resp->ciphertext()).Set("key_version", resp->key_version());
  if (req.include_plaintext()) data.Set("plaintext", absl::Base64Escape(resp->plaintext()));
  HttpResponse response = Envelope(200, std::move(data));
  response.key_version = resp->key_version();
  return response;
}

}  // namespace strongroom::server::vault
