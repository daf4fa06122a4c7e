#include "server/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;

std::string WriteConfig(const std::string& name, const std::string& yaml) {
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << yaml;
  return path;
}

TEST(ConfigTest, EmbeddedDefaultsLiveUnderTheStateDir) {
  setenv("STRONGROOM_STATE_DIR", "/srv/sr", 1);
  auto config = LoadConfig("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state_dir(), "/srv/sr");
  EXPECT_EQ(config->hsm().module(), "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(config->hsm().token_label(), "strongroom");
  EXPECT_EQ(config->hsm().pin_file(), "/srv/sr/hsm.pin");
  EXPECT_EQ(config->hsm().max_sessions(), 16u);
  EXPECT_EQ(config->storage().sqlite().path(), "/srv/sr/strongroom.db");
  EXPECT_EQ(config->grpc().address(), "127.0.0.1:7400");
  EXPECT_EQ(config->grpc().tls().cert_file(), "/srv/sr/tls/server.crt");
  EXPECT_EQ(config->grpc().tls().key_file(), "/srv/sr/tls/server.key");
  EXPECT_EQ(config->grpc().worker_threads(), 16u);
  EXPECT_EQ(config->grpc().max_pending_requests(), 256u);
  EXPECT_EQ(config->auth().refused_token_hmacs_per_second(), 50u);
  EXPECT_EQ(config->secure_heap_bytes(), 4u << 20);
}

TEST(ConfigTest, DefaultStateDirFollowsXdgThenHome) {
  unsetenv("STRONGROOM_STATE_DIR");
  setenv("XDG_STATE_HOME", "/x/state", 1);
  EXPECT_EQ(DefaultStateDir(), "/x/state/strongroom");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/home/ops", 1);
  EXPECT_EQ(DefaultStateDir(), "/home/ops/.local/state/strongroom");
}

TEST(ConfigTest, FileOverridesDefaultsAndResolvesRelativePaths) {
  auto config = LoadConfig(WriteConfig("ok.yaml", R"(state_dir: /data
hsm:
  token_label: prod
  pin_file: secrets/pin
grpc:
  address: "[::1]:0"
  tls:
    cert_file: /etc/tls.crt
    key_file: tls.key
)"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hsm().token_label(), "prod");
  EXPECT_EQ(config->hsm().pin_file(), "/data/secrets/pin");
  EXPECT_EQ(config->grpc().address(), "[::1]:0");
  EXPECT_EQ(config->grpc().tls().cert_file(), "/etc/tls.crt");
  EXPECT_EQ(config->grpc().tls().key_file(), "/data/tls.key");
}

TEST(ConfigTest, SemanticErrorsNameFileLineAndKey) {
  std::string path = WriteConfig("bad.yaml", "hsm:\n  module: /m.so\ngrpc:\n  address: nohost\n");
  auto config = LoadConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            path + ":4: grpc.address: expected host:port (port 0-65535), got \"nohost\"");

  path = WriteConfig("tls.yaml", "grpc:\n  tls:\n    cert_file: a.crt\n");
  EXPECT_EQ(LoadConfig(path).status().message(),
            path + ":3: grpc.tls.cert_file: cert_file and key_file must be set together");

  path = WriteConfig("label.yaml", "hsm:\n  token_label: " + std::string(33, 'x') + "\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":2: hsm.token_label: "));

  path = WriteConfig("module.yaml", "hsm:\n  module: libsofthsm2.so\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":2: hsm.module: must be an absolute path"));

  path = WriteConfig("workers.yaml", "grpc:\n  worker_threads: 5000\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":2: grpc.worker_threads: must be at most 1024"));

  path = WriteConfig("pending.yaml", "grpc:\n  max_pending_requests: 200000\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":2: grpc.max_pending_requests: must be at most 100000"));
}

TEST(ConfigTest, PostgresStorageDefaultsAndChecks) {
  auto config = LoadConfig(WriteConfig("pg.yaml", R"(state_dir: /d
storage:
  postgres:
    conninfo: "host=db1,db2 dbname=strongroom target_session_attrs=read-write"
    password_file: secrets/pg.password
)"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->storage().has_sqlite());
  EXPECT_EQ(config->storage().postgres().password_file(), "/d/secrets/pg.password");
  EXPECT_EQ(config->storage().postgres().max_connections(), 8u);

  std::string path =
      WriteConfig("pg-empty.yaml", "storage:\n  postgres:\n    max_connections: 4\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr("storage.postgres.conninfo: is required"));
  path = WriteConfig("pg-many.yaml",
                     "storage:\n  postgres:\n    conninfo: host=db\n    max_connections: 999\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr("storage.postgres.max_connections: must be 1-256"));
}

TEST(ConfigTest, NodeIdDefaultsToHostAndPortAndIsChecked) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  auto config = LoadConfig(WriteConfig("node.yaml", "state_dir: /d\ngrpc:\n  address: 0.0.0.0:7400\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_id(), absl::StrCat(host, ":7400"));
  // Port 0 is picked at each start: the state dir keeps the id stable instead.
  config = LoadConfig(WriteConfig("node0.yaml", "state_dir: /d/node 1\ngrpc:\n  address: 127.0.0.1:0\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_id(), absl::StrCat(host, ":/d/node_1"));
  config = LoadConfig(WriteConfig("node-set.yaml", "state_dir: /d\nnode_id: db-a.example:7400\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_id(), "db-a.example:7400");

  EXPECT_THAT(LoadConfig(WriteConfig("node-space.yaml", "node_id: \"a b\"\n")).status().message(),
              HasSubstr("node-space.yaml:1: node_id: must be 1 to 128 printable ASCII"));
  EXPECT_THAT(LoadConfig(WriteConfig("node-long.yaml", absl::StrCat("node_id: ", std::string(129, 'n'), "\n")))
                  .status()
                  .message(),
              HasSubstr("node_id: must be 1 to 128"));
}

TEST(ConfigTest, KmsPluginDefaultsAndChecks) {
  auto config =
      LoadConfig(WriteConfig("kms.yaml", "state_dir: /d\nkms_plugin:\n  key_name: k8s\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kms_plugin().socket_path(), "/d/kms-plugin.sock");
  EXPECT_EQ(config->kms_plugin().socket_mode(), "0600");
  EXPECT_EQ(config->kms_plugin().residency(), "hsm");
  EXPECT_TRUE(
      LoadConfig(WriteConfig("off.yaml", "state_dir: /d\n"))->kms_plugin().socket_path().empty());
  std::string path =
      WriteConfig("mode.yaml", "kms_plugin:\n  key_name: k\n  socket_mode: \"0980\"\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":3: kms_plugin.socket_mode: "));
  path = WriteConfig("res.yaml", "kms_plugin:\n  key_name: k\n  residency: cloud\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":3: kms_plugin.residency: "));
  path = WriteConfig("long.yaml",
                     "kms_plugin:\n  key_name: k\n  socket_path: /" + std::string(120, 's') + "\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr("shorter than 108 bytes"));
}

TEST(ConfigTest, PkiDefaultsAndChecks) {
  auto config = LoadConfig(WriteConfig("pki.yaml", "state_dir: /d\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  // The plain-HTTP listener for the public documents is on, on the port after HTTPS, and
  // certificates point at it.
  EXPECT_TRUE(config->pki().plain_http().enabled());
  EXPECT_EQ(config->pki().plain_http().address(), "127.0.0.1:7402");
  EXPECT_EQ(config->pki().base_url(), "http://127.0.0.1:7402");
  EXPECT_EQ(config->pki().crl_validity().seconds(), 24 * 3600);
  config = LoadConfig(WriteConfig(
      "pki2.yaml", "state_dir: /d\npki:\n  base_url: https://ca.example/\n  crl_validity: 2h\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().base_url(), "https://ca.example");
  EXPECT_EQ(config->pki().crl_validity().seconds(), 7200);
  std::string path = WriteConfig("pki3.yaml", "state_dir: /d\npki:\n  base_url: ftp://x\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":3: pki.base_url: "));

  // Off only when the operator says so; then the HTTPS listener is the default base.
  config = LoadConfig(WriteConfig(
      "pki4.yaml", "state_dir: /d\nhttp:\n  address: 10.0.0.5:8200\npki:\n  plain_http:\n"
                   "    enabled: false\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->pki().plain_http().enabled());
  EXPECT_EQ(config->pki().base_url(), "https://10.0.0.5:8200");
  // Its own address, followed by the base URL; a port still to be picked leaves the base
  // URL to the server.
  config = LoadConfig(WriteConfig(
      "pki5.yaml", "state_dir: /d\npki:\n  plain_http:\n    address: 192.0.2.1:80\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().base_url(), "http://192.0.2.1:80");
  config = LoadConfig(WriteConfig("pki6.yaml", "grpc:\n  address: 127.0.0.1:0\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().plain_http().address(), "127.0.0.1:0");
  EXPECT_EQ(config->pki().base_url(), "");
  path = WriteConfig("pki7.yaml", "pki:\n  plain_http:\n    address: 127.0.0.1:7401\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":3: pki.plain_http.address: must differ"));
  path = WriteConfig("pki8.yaml", "pki:\n  plain_http:\n    address: nowhere\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":3: pki.plain_http.address: "));
}

TEST(ConfigTest, PkiMountDefaultsAndChecks) {
  auto config = LoadConfig(WriteConfig("mount.yaml", "state_dir: /d\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().mount(), "pki");
  config = LoadConfig(WriteConfig("mount2.yaml", "state_dir: /d\npki:\n  mount: pki-int\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().mount(), "pki-int");
  for (const char* bad : {"a/b", "sys", "auth", "..", "x y"}) {
    std::string path = WriteConfig("mount3.yaml", absl::StrCat("state_dir: /d\npki:\n  mount: \"",
                                                               bad, "\"\n"));
    EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr("pki.mount")) << bad;
  }
}

TEST(ConfigTest, AcmeExternalUrlQueueAndEabChecks) {
  auto config = LoadConfig(WriteConfig("acme.yaml", "state_dir: /d\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().acme().external_url(), "");
  EXPECT_EQ(config->pki().acme().validation_workers(), 4u);
  EXPECT_EQ(config->pki().acme().validation_queue(), 256u);
  EXPECT_EQ(config->pki().acme().eab_key_lifetime().seconds(), 7 * 24 * 3600);
  config = LoadConfig(WriteConfig(
      "acme2.yaml", "state_dir: /d\npki:\n  acme:\n    external_url: https://acme.example:8443\n"
                    "    external_account_required: [web]\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pki().acme().external_url(), "https://acme.example:8443");
  for (const char* bad : {"http://acme.example", "https://acme.example/", "https://a/b",
                          "https://", "https://a b"}) {
    std::string path = WriteConfig(
        "acme3.yaml", absl::StrCat("state_dir: /d\npki:\n  acme:\n    external_url: \"", bad, "\"\n"));
    EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr("pki.acme.external_url")) << bad;
  }
  for (const char* bad : {"validation_workers: 65", "validation_queue: 100001",
                          "eab_key_lifetime: 30s"}) {
    std::string path =
        WriteConfig("acme4.yaml", absl::StrCat("state_dir: /d\npki:\n  acme:\n    ", bad, "\n"));
    EXPECT_THAT(LoadConfig(path).status().message(),
                HasSubstr(absl::StrCat("pki.acme.", std::string(bad).substr(0, std::string(bad).find(':')))))
        << bad;
  }
}

TEST(ConfigTest, HttpListenerFollowsTheGrpcAddressByDefault) {
  auto config = LoadConfig(WriteConfig("http.yaml", "state_dir: /d\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->http().enabled());
  EXPECT_EQ(config->http().address(), "127.0.0.1:7401");
  config = LoadConfig(WriteConfig("http0.yaml", "grpc:\n  address: 127.0.0.1:0\n"));
  EXPECT_EQ(config->http().address(), "127.0.0.1:0");
  config = LoadConfig(WriteConfig("off.yaml", "http:\n  enabled: false\n"));
  EXPECT_FALSE(config->http().enabled());
  std::string path = WriteConfig(
      "clash.yaml", "grpc:\n  address: 127.0.0.1:9000\nhttp:\n  address: 127.0.0.1:9000\n");
  EXPECT_THAT(LoadConfig(path).status().message(), HasSubstr(":4: http.address: must differ"));
  path = WriteConfig("bad.yaml", "http:\n  address: nowhere\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":2: http.address: expected host:port"));
}

TEST(ConfigTest, UnknownKeysAndMissingFilesAreClear) {
  std::string path = WriteConfig("typo.yaml", "storage:\n  sqlite:\n    pth: x\n");
  EXPECT_THAT(LoadConfig(path).status().message(),
              HasSubstr(":3: storage.sqlite.pth: unknown key (known keys: path)"));
  auto missing = LoadConfig("/nonexistent/strongroom.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/strongroom.yaml"));
}

}  // namespace
}  // namespace strongroom::server
