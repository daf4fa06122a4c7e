#include "server/yaml_proto.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "strongroom/v1/config.pb.h"
#include "testdata/yaml_proto_test.pb.h"

namespace strongroom::server {
namespace {

using ::strongroom::test::Everything;

// Parses `yaml` into a fresh Everything, expecting success.
Everything ParseOk(absl::string_view yaml) {
  Everything message;
  const absl::Status status = YamlToProto(yaml, "t.yaml", &message);
  EXPECT_TRUE(status.ok()) << status;
  return message;
}

// Parses `yaml` into `message`, expecting INVALID_ARGUMENT with a one-line message, which
// it returns.
std::string ErrorOf(absl::string_view yaml, google::protobuf::Message* message) {
  const absl::Status status = YamlToProto(yaml, "t.yaml", message);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(std::string(status.message()).find('\n'), std::string::npos) << status;
  EXPECT_EQ(message->ByteSizeLong(), 0u) << "output not cleared on error";
  return std::string(status.message());
}

std::string ErrorOf(absl::string_view yaml) {
  Everything message;
  return ErrorOf(yaml, &message);
}

Everything FromText(const std::string& text) {
  Everything message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

void ExpectEqual(const google::protobuf::Message& actual,
                 const google::protobuf::Message& expected) {
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(actual, expected))
      << "actual:\n"
      << actual.DebugString() << "expected:\n"
      << expected.DebugString();
}

TEST(YamlToProtoTest, FullDocument) {
  const Everything actual = ParseOk(R"yaml(
# Every supported kind of field.
text: "hello: world"
blob: raw bytes
flag: true
i32: -2147483648
i64: -9223372036854775808
u32: 4294967295
u64: 18446744073709551615
f32: 1.5
f64: -2.5e3
color: GREEN
inner:
  name: outer
  weight: 7
  child:
    name: nested
tags: [a, "b c", '']
items:
  - name: first
  - name: second
    weight: +3
labels:
  env: prod
  "a.b": dotted
sqlite:
  name: db
timeout: 1h30m
backoff: [100ms, 1.5s, 0s]
named:
  x: {weight: 1}
by_id:
  7: seven
  -1: minus one
numbers:
  - 0
  - 007
pin: 1234
maybe: 0
)yaml");
  ExpectEqual(actual, FromText(R"pb(
                text: "hello: world"
                blob: "raw bytes"
                flag: true
                i32: -2147483648
                i64: -9223372036854775808
                u32: 4294967295
                u64: 18446744073709551615
                f32: 1.5
                f64: -2500
                color: GREEN
                inner {
                  name: "outer"
                  weight: 7
                  child { name: "nested" }
                }
                tags: [ "a", "b c", "" ]
                items { name: "first" }
                items { name: "second" weight: 3 }
                labels { key: "env" value: "prod" }
                labels { key: "a.b" value: "dotted" }
                sqlite { name: "db" }
                timeout { seconds: 5400 }
                backoff { nanos: 100000000 }
                backoff { seconds: 1 nanos: 500000000 }
                backoff {}
                named {
                  key: "x"
                  value { weight: 1 }
                }
                by_id { key: 7 value: "seven" }
                by_id { key: -1 value: "minus one" }
                numbers: [ 0, 7 ]
                pin: 1234
                maybe: 0
              )pb"));
  EXPECT_TRUE(actual.has_maybe());
}

TEST(YamlToProtoTest, ScalarSpellings) {
  ExpectEqual(ParseOk("f64: .inf\nf32: -.Inf\nu32: \"5\"\nblob: \"\\x01\\u00e9\"\ntext: 123\n"),
              FromText(R"pb(f64: inf f32: -inf u32: 5 blob: "\001\303\251" text: "123")pb"));
  EXPECT_TRUE(std::isnan(ParseOk("f64: .nan\n").f64()));
  ExpectEqual(ParseOk("text: |\n  line one\n  line two\nflag: false\n"),
              FromText(R"pb(text: "line one\nline two\n")pb"));
  ExpectEqual(ParseOk("\xEF\xBB\xBFtext: bom\r\ni32: 1\r\n"),
              FromText(R"pb(text: "bom" i32: 1)pb"));
}

TEST(YamlToProtoTest, EmptyDocumentsYieldEmptyMessage) {
  for (absl::string_view yaml : {"", "\n\n", "# only a comment\n", "---\n", "~\n", "{}\n"}) {
    Everything message = FromText(R"pb(text: "stale")pb");
    const absl::Status status = YamlToProto(yaml, "t.yaml", &message);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(message.ByteSizeLong(), 0u) << "for " << yaml;
  }
}

TEST(YamlToProtoTest, NullLeavesFieldsUnset) {
  const Everything message = ParseOk("inner:\ntext: ~\nmaybe: null\ntags:\nlabels: ~\n");
  EXPECT_FALSE(message.has_inner());
  EXPECT_FALSE(message.has_maybe());
  EXPECT_EQ(message.ByteSizeLong(), 0u);
  // A null member of a oneof does not count as set.
  ExpectEqual(ParseOk("sqlite:\nmemory: ram\n"), FromText(R"pb(memory: "ram")pb"));
}

TEST(YamlToProtoTest, TopLevelMustBeMapping) {
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "t.yaml:1: expected a mapping at the top level, got a sequence");
  EXPECT_EQ(ErrorOf("\n\njust text\n"),
            "t.yaml:3: expected a mapping at the top level, got a scalar");
}

TEST(YamlToProtoTest, UnknownKeys) {
  EXPECT_EQ(ErrorOf("text: a\ninner:\n  nmae: x\n"),
            "t.yaml:3: inner.nmae: unknown key (known keys: name, weight, child)");
  EXPECT_EQ(ErrorOf("Text: a\n"),
            "t.yaml:1: Text: unknown key (known keys: text, blob, flag, i32, i64, u32, u64, f32, "
            "f64, color, inner, tags, items, labels, sqlite, memory, timeout, backoff, named, "
            "by_id, numbers, pin, maybe)");
  EXPECT_EQ(ErrorOf("items:\n  - name: a\n    \"we\\nird key\": 1\n"),
            "t.yaml:3: items[0][\"we\\nird key\"]: unknown key (known keys: name, weight, child)");
  EXPECT_EQ(ErrorOf("inner:\n  <<: {name: x}\n"),
            "t.yaml:2: inner[\"<<\"]: unknown key (known keys: name, weight, child); YAML merge "
            "keys are not supported");
}

TEST(YamlToProtoTest, DuplicateKeys) {
  EXPECT_EQ(ErrorOf("text: a\nflag: true\ntext: b\n"),
            "t.yaml:3: text: duplicate key (first set at line 1)");
  EXPECT_EQ(ErrorOf("inner:\ninner: {name: x}\n"),
            "t.yaml:2: inner: duplicate key (first set at line 1)");
  EXPECT_EQ(ErrorOf("labels:\n  a: x\n  b: y\n  a: z\n"),
            "t.yaml:4: labels.a: duplicate key (first set at line 2)");
  EXPECT_EQ(ErrorOf("by_id:\n  1: x\n  01: y\n"),
            "t.yaml:3: by_id.01: duplicate key (first set at line 2)");
}

TEST(YamlToProtoTest, Booleans) {
  EXPECT_EQ(ErrorOf("flag: yes\n"),
            "t.yaml:1: flag: expected true or false, got \"yes\" (YAML 1.1 booleans such as "
            "yes/no/on/off are not accepted)");
  EXPECT_EQ(ErrorOf("\nflag: Off\n"),
            "t.yaml:2: flag: expected true or false, got \"Off\" (YAML 1.1 booleans such as "
            "yes/no/on/off are not accepted)");
  EXPECT_EQ(ErrorOf("flag: True\n"),
            "t.yaml:1: flag: expected true or false, got \"True\" (booleans are lowercase)");
  EXPECT_EQ(ErrorOf("flag: 1\n"), "t.yaml:1: flag: expected true or false, got \"1\"");
}

TEST(YamlToProtoTest, Integers) {
  EXPECT_EQ(ErrorOf("u32: ten\n"), "t.yaml:1: u32: expected an unsigned integer, got \"ten\"");
  EXPECT_EQ(ErrorOf("u32: -1\n"),
            "t.yaml:1: u32: expected an unsigned integer in [0, 4294967295], got \"-1\"");
  EXPECT_EQ(ErrorOf("u32: 4294967296\n"),
            "t.yaml:1: u32: expected an unsigned integer in [0, 4294967295], got \"4294967296\"");
  EXPECT_EQ(ErrorOf("i32: 2147483648\n"),
            "t.yaml:1: i32: expected an integer in [-2147483648, 2147483647], got \"2147483648\"");
  EXPECT_EQ(ErrorOf("i32: 1.5\n"),
            "t.yaml:1: i32: expected an integer in [-2147483648, 2147483647], got \"1.5\"");
  EXPECT_EQ(ErrorOf("i32: 0x10\n"),
            "t.yaml:1: i32: expected an integer in [-2147483648, 2147483647], got \"0x10\"");
  EXPECT_EQ(ErrorOf("i64: 9223372036854775808\n"),
            "t.yaml:1: i64: expected an integer in [-9223372036854775808, 9223372036854775807], "
            "got \"9223372036854775808\"");
  EXPECT_EQ(ErrorOf("u64: 99999999999999999999999\n"),
            "t.yaml:1: u64: expected an unsigned integer in [0, 18446744073709551615], got "
            "\"99999999999999999999999\"");
  EXPECT_EQ(ErrorOf("u64: 1_000\n"), "t.yaml:1: u64: expected an unsigned integer, got \"1_000\"");
  EXPECT_EQ(ErrorOf("numbers: [1, 2, x]\n"),
            "t.yaml:1: numbers[2]: expected an integer, got \"x\"");
  EXPECT_EQ(ParseOk("u32: -0\n").u32(), 0u);
}

TEST(YamlToProtoTest, Floats) {
  EXPECT_EQ(ErrorOf("f64: abc\n"), "t.yaml:1: f64: expected a number, got \"abc\"");
  EXPECT_EQ(ErrorOf("f64: 1e999\n"),
            "t.yaml:1: f64: expected a number within double range (about ±1.8e308), got "
            "\"1e999\"");
  EXPECT_EQ(ErrorOf("f32: 1e39\n"),
            "t.yaml:1: f32: expected a number within float range (about ±3.4e38), got \"1e39\"");
  EXPECT_EQ(ErrorOf("f32: inf\n"), "t.yaml:1: f32: expected a number, got \"inf\"");
  EXPECT_DOUBLE_EQ(ParseOk("f64: .5\n").f64(), 0.5);
}

TEST(YamlToProtoTest, Enums) {
  EXPECT_EQ(ErrorOf("color: green\n"),
            "t.yaml:1: color: expected one of COLOR_UNSPECIFIED, RED, GREEN, got \"green\"");
  EXPECT_EQ(ErrorOf("color: 2\n"),
            "t.yaml:1: color: expected one of COLOR_UNSPECIFIED, RED, GREEN, got \"2\"");
}

TEST(YamlToProtoTest, ShapeMismatches) {
  EXPECT_EQ(ErrorOf("inner: 5\n"), "t.yaml:1: inner: expected a mapping, got a scalar");
  EXPECT_EQ(ErrorOf("inner:\n  - a\n"), "t.yaml:2: inner: expected a mapping, got a sequence");
  EXPECT_EQ(ErrorOf("text: [a]\n"), "t.yaml:1: text: expected a string, got a sequence");
  EXPECT_EQ(ErrorOf("text:\n  a: b\n"), "t.yaml:2: text: expected a string, got a mapping");
  EXPECT_EQ(ErrorOf("inner:\n  ? [a]\n  : b\n"), "t.yaml:2: inner: expected a key, got a sequence");
  EXPECT_EQ(ErrorOf("~: b\n"), "t.yaml:1: expected a key, got null");
}

TEST(YamlToProtoTest, RepeatedFields) {
  EXPECT_EQ(ErrorOf("tags: solo\n"), "t.yaml:1: tags: expected a sequence, got a scalar");
  EXPECT_EQ(ErrorOf("items:\n  name: x\n"), "t.yaml:2: items: expected a sequence, got a mapping");
  EXPECT_EQ(ErrorOf("items:\n  - name: a\n  - name: b\n  - name: c\n    weight: heavy\n"),
            "t.yaml:5: items[2].weight: expected an integer, got \"heavy\"");
  EXPECT_EQ(ErrorOf("tags:\n  - a\n  -\n\n  - b\n"),
            "t.yaml:3: tags[1]: expected a string, got null");
  EXPECT_EQ(ErrorOf("items: [{name: a}, ~]\n"), "t.yaml:1: items[1]: expected a mapping, got null");
  EXPECT_EQ(ParseOk("tags: []\n").tags_size(), 0);
}

TEST(YamlToProtoTest, MapFields) {
  EXPECT_EQ(ErrorOf("labels: [a]\n"), "t.yaml:1: labels: expected a mapping, got a sequence");
  EXPECT_EQ(ErrorOf("labels:\n  env: [x]\n"),
            "t.yaml:2: labels.env: expected a string, got a sequence");
  EXPECT_EQ(ErrorOf("labels:\n  a.b:\n"), "t.yaml:2: labels[\"a.b\"]: expected a string, got null");
  EXPECT_EQ(ErrorOf("by_id: {x: a}\n"), "t.yaml:1: by_id.x: expected an integer, got \"x\"");
  EXPECT_EQ(ErrorOf("named:\n  a:\n    weight: w\n"),
            "t.yaml:3: named.a.weight: expected an integer, got \"w\"");
}

TEST(YamlToProtoTest, Oneof) {
  EXPECT_EQ(ErrorOf("sqlite:\n  name: db\nmemory: ram\n"),
            "t.yaml:3: memory: cannot be set together with \"sqlite\" (line 1); both belong to "
            "oneof \"backend\"");
}

TEST(YamlToProtoTest, Durations) {
  ExpectEqual(ParseOk("timeout: 90s\n"), FromText(R"pb(timeout { seconds: 90 })pb"));
  ExpectEqual(ParseOk("timeout: 15m\n"), FromText(R"pb(timeout { seconds: 900 })pb"));
  ExpectEqual(ParseOk("timeout: 24h\n"), FromText(R"pb(timeout { seconds: 86400 })pb"));
  ExpectEqual(ParseOk("timeout: \"0\"\n"), FromText(R"pb(timeout {})pb"));
  EXPECT_EQ(ErrorOf("timeout: 90\n"),
            "t.yaml:1: timeout: expected a duration such as \"90s\", \"15m\", \"24h\" or "
            "\"1h30m\", got \"90\"");
  EXPECT_EQ(ErrorOf("timeout: -5s\n"),
            "t.yaml:1: timeout: expected a non-negative duration, got \"-5s\"");
  EXPECT_EQ(ErrorOf("timeout: inf\n"),
            "t.yaml:1: timeout: expected a duration of at most 315576000000s, got \"inf\"");
  EXPECT_EQ(ErrorOf("timeout:\n  seconds: 5\n"),
            "t.yaml:2: timeout: expected a duration such as \"90s\", got a mapping");
  EXPECT_EQ(ErrorOf("backoff: [1s, 2x]\n"),
            "t.yaml:1: backoff[1]: expected a duration such as \"90s\", \"15m\", \"24h\" or "
            "\"1h30m\", got \"2x\"");
}

TEST(YamlToProtoTest, SecretsAndLongValuesStayOutOfMessages) {
  EXPECT_EQ(ErrorOf("pin: 12a4\n"), "t.yaml:1: pin: expected an unsigned integer");
  EXPECT_EQ(
      ErrorOf(absl::StrCat("i32: ", std::string(100, 'x'), "\n")),
      absl::StrCat("t.yaml:1: i32: expected an integer, got \"", std::string(40, 'x'), "\"..."));
  EXPECT_EQ(ErrorOf("i32: \"a\\tb\\nc\"\n"),
            "t.yaml:1: i32: expected an integer, got \"a\\tb\\nc\"");
}

TEST(YamlToProtoTest, YamlFeatures) {
  EXPECT_EQ(ErrorOf("text: !!str x\n"),
            "t.yaml:1: text: YAML tags are not supported, found \"!!str\"");
  EXPECT_EQ(ErrorOf("inner: !custom {name: x}\n"),
            "t.yaml:1: inner: YAML tags are not supported, found \"!custom\"");
  EXPECT_EQ(ErrorOf("text: a\n---\ntext: b\n"),
            "t.yaml:2: expected a single YAML document, found another one");
  ExpectEqual(ParseOk("inner: &base {name: n, weight: 2}\nitems: [*base, *base]\n"),
              FromText(R"pb(inner { name: "n" weight: 2 }
                            items { name: "n" weight: 2 }
                            items { name: "n" weight: 2 })pb"));
  EXPECT_EQ(ErrorOf("inner: &a {child: *a}\n"),
            "t.yaml:1: YAML syntax error: an alias refers to a node that contains it");
}

TEST(YamlToProtoTest, SyntaxErrors) {
  EXPECT_EQ(ErrorOf("text: a\nitems: [1, 2\n"),
            "t.yaml:3: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("text: *nowhere\n"),
            "t.yaml:1: YAML syntax error: the referenced anchor is not defined");
  EXPECT_EQ(ErrorOf("text: a\n\x01\xff\n"), "t.yaml:2: YAML syntax error: input is not UTF-8");
  EXPECT_EQ(ErrorOf(std::string("text: a\nb\0c: d\n", 14)),
            "t.yaml:2: YAML syntax error: NUL byte in input");
  EXPECT_EQ(ErrorOf("text: a\n  bad indent: b\n").rfind("t.yaml:2: YAML syntax error: ", 0), 0u);
}

TEST(YamlToProtoTest, NastyInputsFailCleanly) {
  // Deep YAML nesting is stopped by the parser, deep message nesting by the converter.
  EXPECT_EQ(ErrorOf(std::string(5000, '[')), "t.yaml:1: YAML syntax error: nesting too deep");
  std::string deep = "inner: ";
  for (int i = 0; i < 150; ++i) deep += "{child: ";
  deep += "{}" + std::string(150, '}') + "\n";
  EXPECT_EQ(ErrorOf(deep).rfind("t.yaml:1: inner.child.child.", 0), 0u);
  EXPECT_NE(ErrorOf(deep).find(": messages nested more than 100 levels deep"), std::string::npos);

  // Aliases that would expand a small document into a huge one.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string previous = "a";
  for (char c = 'b'; c <= 'k'; ++c) {
    absl::StrAppend(&laughs, std::string(1, c), ": &", std::string(1, c), " [");
    for (int i = 0; i < 10; ++i) absl::StrAppend(&laughs, i ? ", *" : "*", previous);
    absl::StrAppend(&laughs, "]\n");
    previous = std::string(1, c);
  }
  // Unknown keys stop it early; through a repeated message field it needs the budget.
  EXPECT_NE(ErrorOf(laughs).find("unknown key"), std::string::npos);
  std::string big = absl::StrCat("text: &s \"", std::string(100000, 'y'), "\"\ntags: [");
  for (int i = 0; i < 100; ++i) absl::StrAppend(&big, i ? ", *s" : "*s");
  absl::StrAppend(&big, "]\n");
  EXPECT_NE(ErrorOf(big).find("document too large once its aliases are expanded"),
            std::string::npos);

  // Very long lines are fine when valid, and clipped in messages when not.
  const std::string long_value(1 << 20, 'v');
  EXPECT_EQ(ParseOk(absl::StrCat("text: ", long_value, "\n")).text(), long_value);
  const std::string long_key(100000, 'k');
  EXPECT_EQ(ErrorOf(absl::StrCat(long_key, ": 1\n")),
            "t.yaml:1: YAML syntax error: illegal map value");
  const std::string message = ErrorOf(absl::StrCat("? ", long_key, "\n: 1\n"));
  EXPECT_LT(message.size(), 400u);
  EXPECT_EQ(
      message.rfind(absl::StrCat("t.yaml:1: [\"", std::string(40, 'k'), "\"...]: unknown key"), 0),
      0u)
      << message;

  EXPECT_NE(ErrorOf(std::string(kMaxYamlBytes + 1, ' ')).find("over the limit"), std::string::npos);

  // Random bytes and random mutations of a valid document never crash; errors stay
  // single-line INVALID_ARGUMENT.
  std::mt19937 random(42);
  const std::string valid =
      "text: a\ninner: {name: n, child: {weight: 3}}\ntags: [x, y]\nlabels: {a: b}\n"
      "items:\n  - name: i\n    weight: 2\ntimeout: 5s\nby_id: {1: one}\n";
  for (int round = 0; round < 2000; ++round) {
    std::string input = valid;
    if (round % 4 == 0) {
      input.resize(random() % 200);
      for (char& c : input) c = static_cast<char>(random());
    } else {
      for (int edits = 1 + random() % 4; edits > 0; --edits) {
        const size_t at = random() % input.size();
        const char kJunk[] = "[]{}:,-&*!|>'\"#%@`?~\n \t\\x0";
        input[at] = kJunk[random() % (sizeof(kJunk) - 1)];
      }
    }
    Everything message;
    const absl::Status status = YamlToProto(input, "t.yaml", &message);
    if (!status.ok()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      EXPECT_EQ(std::string(status.message()).find('\n'), std::string::npos) << status;
      EXPECT_EQ(std::string(status.message()).rfind("t.yaml:", 0), 0u) << status;
    }
  }
}

TEST(YamlToProtoTest, ServerConfigUnknownHsmKey) {
  strongroom::v1::ServerConfig config;
  EXPECT_EQ(ErrorOf(R"yaml(# strongroomd
state_dir: /var/lib/strongroom
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: strongroom
  max_sessions: 8
  pin_fle: /etc/strongroom/hsm.pin
)yaml",
                    &config),
            "t.yaml:7: hsm.pin_fle: unknown key (known keys: module, token_label, pin_file, "
            "max_sessions, so_pin_file)");
  EXPECT_EQ(ErrorOf("grpc:\n  address: 127.0.0.1:0\n  drain_seconds: ten\n", &config),
            "t.yaml:3: grpc.drain_seconds: expected an unsigned integer, got \"ten\"");
  EXPECT_EQ(ErrorOf("hsm:\n  so_pin_file: [a]\n", &config),
            "t.yaml:2: hsm.so_pin_file: expected a string, got a sequence");
}

TEST(YamlToProtoTest, ServerConfigNestedDocument) {
  strongroom::v1::ServerConfig config;
  const absl::Status status = YamlToProto(R"yaml(
state_dir: /var/lib/strongroom
secure_heap_bytes: 8388608
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: strongroom
  pin_file: /etc/strongroom/hsm.pin
  max_sessions: 32
storage:
  sqlite:
    path: /var/lib/strongroom/strongroom.db
grpc:
  address: "[::]:7400"
  drain_seconds: 30
  tls:
    cert_file: /etc/strongroom/tls.crt
    key_file: /etc/strongroom/tls.key
)yaml",
                                          "strongroom.yaml", &config);
  ASSERT_TRUE(status.ok()) << status;
  strongroom::v1::ServerConfig expected;
  constexpr absl::string_view kExpected = R"pb(
    state_dir: "/var/lib/strongroom"
    secure_heap_bytes: 8388608
    hsm {
      module: "/usr/lib/softhsm/libsofthsm2.so"
      token_label: "strongroom"
      pin_file: "/etc/strongroom/hsm.pin"
      max_sessions: 32
    }
    storage { sqlite { path: "/var/lib/strongroom/strongroom.db" } }
    grpc {
      address: "[::]:7400"
      drain_seconds: 30
      tls { cert_file: "/etc/strongroom/tls.crt" key_file: "/etc/strongroom/tls.key" }
    }
  )pb";
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(kExpected), &expected));
  ExpectEqual(config, expected);
}

}  // namespace
}  // namespace strongroom::server

namespace strongroom::server {
namespace {

TEST(YamlToProtoKeyLinesTest, RecordsTheLineOfEveryKeySet) {
  strongroom::v1::ServerConfig config;
  YamlKeyLines lines;
  ASSERT_TRUE(YamlToProto("hsm:\n  module: /x.so\n\ngrpc:\n  address: a:1\n  tls:\n"
                          "    cert_file: c\n",
                          "t.yaml", &config, &lines)
                  .ok());
  EXPECT_EQ(lines["hsm"], 1);
  EXPECT_EQ(lines["hsm.module"], 2);
  EXPECT_EQ(lines["grpc.address"], 5);
  EXPECT_EQ(lines["grpc.tls.cert_file"], 7);
  EXPECT_EQ(lines.count("state_dir"), 0u);
}

}  // namespace
}  // namespace strongroom::server
