// CleanseMessage: wipes every string and bytes field of a protobuf message in place.
//
// Walks the fields that are set (ListFields), nested and repeated messages included, and
// the unknown fields, cleansing each string's whole buffer with CleanseString; the message
// stays valid with those fields empty. What it cannot reach, and so must not hold secrets:
// map fields (protobuf 3.21 offers no in-place access to their values), buffers of fields
// already emptied by Clear(), and copies protobuf or gRPC made while parsing or
// serializing (the wire bytes themselves). Call it on a message that held plaintext
// before the message is destroyed. Not thread-safe for the message.
#pragma once

#include <google/protobuf/message.h>

namespace strongroom::hsm {

void CleanseMessage(google::protobuf::Message* message);

}  // namespace strongroom::hsm
