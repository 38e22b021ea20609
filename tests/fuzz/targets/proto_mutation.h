// Structure-aware mutation of protobuf messages for the RPC targets: one field
// somewhere in the message set to an extreme value (through reflection), so
// that most inputs still parse and reach the handler's checks; byte-level
// mutation alone mostly makes unparseable messages.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "tests/fuzz/mutator.h"

namespace deltarl::fuzz {

namespace proto_mutation_detail {

template <typename T>
T pick(Rng& rng, const std::vector<T>& values) {
  return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
}

}  // namespace proto_mutation_detail

// Sets one field of `message` (or of a message nested in it) to an extreme
// value, appends to or empties a repeated field; strings go through `mutator`.
inline void mutate_one_field(google::protobuf::Message& message, const Mutator& mutator, Rng& rng) {
  using google::protobuf::FieldDescriptor;
  using proto_mutation_detail::pick;
  const auto* descriptor = message.GetDescriptor();
  const auto* reflection = message.GetReflection();
  if (descriptor->field_count() == 0) return;
  const FieldDescriptor* field =
      descriptor->field(std::uniform_int_distribution<int>(0, descriptor->field_count() - 1)(rng));
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(message, field);
      if (size == 0 || std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
        reflection->AddMessage(&message, field);
        return;
      }
      mutate_one_field(*reflection->MutableRepeatedMessage(&message, field,
                                                           std::uniform_int_distribution<int>(0, size - 1)(rng)),
                       mutator, rng);
    } else {
      mutate_one_field(*reflection->MutableMessage(&message, field), mutator, rng);
    }
    return;
  }
  if (field->is_repeated()) {
    const int choice = std::uniform_int_distribution<int>(0, 3)(rng);
    if (choice == 0) {
      reflection->ClearField(&message, field);
      return;
    }
    const int copies = choice == 1 ? 3000 : 1;  // long lists too
    for (int i = 0; i < copies; ++i) {
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          reflection->AddInt32(&message, field, pick<int32_t>(rng, {INT32_MIN, -1, 0, 1, 15, 16, 1 << 20, INT32_MAX}));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          reflection->AddInt64(&message, field, pick<int64_t>(rng, {INT64_MIN, -1, 0, 1, 8, int64_t{1} << 40, INT64_MAX}));
          break;
        case FieldDescriptor::CPPTYPE_UINT32: reflection->AddUInt32(&message, field, pick<uint32_t>(rng, {0, 1, UINT32_MAX})); break;
        case FieldDescriptor::CPPTYPE_UINT64: reflection->AddUInt64(&message, field, pick<uint64_t>(rng, {0, 1, UINT64_MAX})); break;
        case FieldDescriptor::CPPTYPE_FLOAT: reflection->AddFloat(&message, field, pick<float>(rng, {NAN, INFINITY, -0.0f})); break;
        case FieldDescriptor::CPPTYPE_DOUBLE: reflection->AddDouble(&message, field, pick<double>(rng, {NAN, INFINITY, 1e308})); break;
        case FieldDescriptor::CPPTYPE_STRING: reflection->AddString(&message, field, mutator.mutate("x", rng)); break;
        default: return;
      }
    }
    return;
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      reflection->SetInt32(&message, field, pick<int32_t>(rng, {INT32_MIN, -1, 0, 1, 2, 31, 32, 1024, 1025, INT32_MAX}));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(&message, field, pick<int64_t>(rng, {INT64_MIN, -1, 0, 1, int64_t{1} << 40, INT64_MAX}));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      reflection->SetUInt32(&message, field, pick<uint32_t>(rng, {0, 1, 0x80000000u, UINT32_MAX}));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      reflection->SetUInt64(&message, field,
                            pick<uint64_t>(rng, {0, 1, 2, 63, 64, uint64_t{1} << 32, uint64_t{1} << 63, UINT64_MAX,
                                                 UINT64_MAX - 1}));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT: reflection->SetFloat(&message, field, pick<float>(rng, {NAN, INFINITY, -1.0f, 0.0f})); break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->SetDouble(&message, field,
                            pick<double>(rng, {NAN, INFINITY, -INFINITY, -0.0, -1.0, 0.0, 1e-320, 100.0, 100.5, 1e308}));
      break;
    case FieldDescriptor::CPPTYPE_BOOL: reflection->SetBool(&message, field, !reflection->GetBool(message, field)); break;
    case FieldDescriptor::CPPTYPE_ENUM:
      reflection->SetEnumValue(&message, field, pick<int>(rng, {-1, 0, 1, 2, 99}));
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      reflection->SetString(&message, field, mutator.mutate(reflection->GetString(message, field), rng));
      break;
    default: break;
  }
}

}  // namespace deltarl::fuzz
