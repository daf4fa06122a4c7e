#include "hsm/cleanse_message.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "hsm/secret_data.h"

namespace strongroom::hsm {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// The string a field's reference names: the message's own storage for ordinary string
// fields (GetStringReference returns `scratch` only for other representations).
void CleanseReferenced(const std::string& ref, std::string* scratch) {
  if (&ref != scratch) CleanseString(const_cast<std::string*>(&ref));
  CleanseString(scratch);
}

void CleanseUnknown(UnknownFieldSet* fields) {
  for (int i = 0; i < fields->field_count(); ++i) {
    UnknownField* field = fields->mutable_field(i);
    if (field->type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      CleanseString(field->mutable_length_delimited());
    } else if (field->type() == UnknownField::TYPE_GROUP) {
      CleanseUnknown(field->mutable_group());
    }
  }
}

}  // namespace

void CleanseMessage(google::protobuf::Message* message) {
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  std::string scratch;
  for (const FieldDescriptor* field : fields) {
    if (field->is_map()) continue;  // see the header
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->is_repeated()) {
          for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
            CleanseReferenced(
                reflection->GetRepeatedStringReference(*message, field, i, &scratch), &scratch);
          }
        } else {
          CleanseReferenced(reflection->GetStringReference(*message, field, &scratch), &scratch);
        }
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->is_repeated()) {
          for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
            CleanseMessage(reflection->MutableRepeatedMessage(message, field, i));
          }
        } else {
          CleanseMessage(reflection->MutableMessage(message, field));
        }
        break;
      default:
        break;
    }
  }
  CleanseUnknown(reflection->MutableUnknownFields(message));
}

}  // namespace strongroom::hsm
