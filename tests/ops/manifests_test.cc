// examples/kubernetes: every manifest parses, and carries the fields docs/operations.md relies on
// (runtime classes, the KBS resource, image digests, ports that match the federation config).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <regex>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "participant/config.h"
#include "protocol/federation_config.h"
#include "tests/ops/mini_yaml.h"
#include "tests/support/process.h"

namespace cairn::testing_support {
namespace {

using Kind = YamlNode::Kind;

// ---------------------------------------------------------------------------------------------
// The YAML subset reader itself.

TEST(MiniYaml, ParsesTheSubset) {
  auto docs = ParseYamlDocuments(
      "# comment\n"
      "a: 1\n"
      "b: \"two: 2\"   # trailing comment\n"
      "c: 'it''s'\n"
      "list:\n"
      "- x\n"
      "- y\n"
      "nested:\n"
      "  items:\n"
      "    - name: first\n"
      "      port: 80\n"
      "    - name: second\n"
      "    -\n"
      "      name: third\n"
      "  text: |\n"
      "    line one\n"
      "\n"
      "      indented # not a comment\n"
      "  stripped: |-\n"
      "    no newline\n"
      "---\n"
      "kind: Second\n",
      "t.yaml");
  ASSERT_TRUE(docs) << docs.error().message();
  ASSERT_EQ(docs->size(), 2u);
  const YamlNode& d = (*docs)[0];
  EXPECT_EQ(d.Str("a"), "1");
  EXPECT_EQ(d.Str("b"), "two: 2");
  EXPECT_EQ(d.Str("c"), "it's");
  EXPECT_EQ(d.Str("list/1"), "y");
  EXPECT_EQ(d.Str("nested/items/0/name"), "first");
  EXPECT_EQ(d.Str("nested/items/0/port"), "80");
  EXPECT_EQ(d.Str("nested/items/1/name"), "second");
  EXPECT_EQ(d.Str("nested/items/2/name"), "third");
  EXPECT_EQ(d.Str("nested/text"), "line one\n\n  indented # not a comment\n");
  EXPECT_EQ(d.Str("nested/stripped"), "no newline");
  EXPECT_EQ(d.Find("missing/path"), nullptr);
  EXPECT_EQ((*docs)[1].Str("kind"), "Second");
  EXPECT_EQ(d.Find("nested/items")->kind, Kind::kSeq);
}

TEST(MiniYaml, RefusesWhatItDoesNotSupport) {
  for (const char* bad : {"a: {b: 1}\n", "a: [1, 2]\n", "a: &anchor 1\n", "a: *alias\n", "a: !tag 1\n",
                          "a: >\n  folded\n", "a: 1\na: 2\n", "a:\n\tb: 1\n", "a: 1\n  b: 2\n",
                          "a: \"unterminated\n", "  a: 1\n", "a:\n  - x\n  y: 1\n"}) {
    auto r = ParseYamlDocuments(bad, "bad.yaml");
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message().find("bad.yaml:"), std::string::npos) << r.error().message();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The manifests.

struct Manifest {
  std::filesystem::path file;
  YamlNode doc;
};

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SourceDir().empty()) GTEST_SKIP() << "CAIRN_SOURCE_DIR not set: run through ctest";
    root_ = SourceDir() / "examples" / "kubernetes";
    ASSERT_TRUE(std::filesystem::is_directory(root_)) << root_;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) {
      if (e.path().extension() != ".yaml") continue;
      auto text = ReadFileText(e.path());
      ASSERT_TRUE(text) << text.error().message();
      auto docs = ParseYamlDocuments(*text, e.path().string());
      ASSERT_TRUE(docs) << docs.error().message();
      ASSERT_FALSE(docs->empty()) << e.path();
      for (auto& d : *docs) all_.push_back({e.path(), std::move(d)});
    }
    ASSERT_GE(all_.size(), 8u);
  }

  const Manifest& Get(std::string_view kind, std::string_view name) {
    for (const auto& m : all_) {
      if (m.doc.Str("kind") == kind && m.doc.Str("metadata/name") == name &&
          m.file.parent_path() == root_) {
        return m;
      }
    }
    ADD_FAILURE() << "no " << kind << " named " << name << " in " << root_;
    static Manifest empty;
    return empty;
  }

  // The mount path of the volume `volume` in container `c`.
  static std::string MountPath(const YamlNode& c, std::string_view volume) {
    const YamlNode* mounts = c.Find("volumeMounts");
    if (!mounts) return "";
    for (const auto& m : mounts->seq) {
      if (m.Str("name") == volume) return m.Str("mountPath");
    }
    return "";
  }
  static const YamlNode* Volume(const YamlNode& pod_spec, std::string_view name) {
    const YamlNode* vols = pod_spec.Find("volumes");
    if (!vols) return nullptr;
    for (const auto& v : vols->seq) {
      if (v.Str("name") == name) return &v;
    }
    return nullptr;
  }
  static std::vector<std::string> Args(const YamlNode& c) {
    std::vector<std::string> v;
    if (const YamlNode* a = c.Find("args")) {
      for (const auto& x : a->seq) v.push_back(x.scalar);
    }
    return v;
  }
  static std::string ArgAfter(const std::vector<std::string>& args, std::string_view flag) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag) return args[i + 1];
    }
    return "";
  }
  static bool PinnedByDigest(const std::string& image) {
    return std::regex_search(image, std::regex("@sha256:[0-9a-f]{64}$"));
  }
  static int PortOf(const std::string& endpoint) {
    return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  }

  std::filesystem::path root_;
  std::vector<Manifest> all_;
};

TEST_F(ManifestsTest, EveryDocumentHasKindAndName) {
  for (const auto& m : all_) {
    EXPECT_FALSE(m.doc.Str("apiVersion").empty()) << m.file << ":" << m.doc.line;
    EXPECT_FALSE(m.doc.Str("kind").empty()) << m.file << ":" << m.doc.line;
    if (m.doc.Str("kind") == "Kustomization") continue;  // kustomize files have no metadata
    EXPECT_FALSE(m.doc.Str("metadata/name").empty()) << m.file << ":" << m.doc.line;
    if (m.doc.Str("kind") != "Namespace") {
      EXPECT_EQ(m.doc.Str("metadata/namespace"), "cairn") << m.file << ":" << m.doc.line;
    }
  }
}

TEST_F(ManifestsTest, KustomizationsListEveryManifest) {
  auto base = ParseYamlDocuments(*ReadFileText(root_ / "kustomization.yaml"), "kustomization.yaml");
  ASSERT_TRUE(base);
  const YamlNode& k = (*base)[0];
  std::set<std::string> listed;
  for (const auto& r : k.Find("resources")->seq) {
    listed.insert(r.scalar);
    EXPECT_TRUE(std::filesystem::exists(root_ / r.scalar)) << r.scalar;
  }
  for (const auto& e : std::filesystem::directory_iterator(root_)) {
    if (e.path().extension() == ".yaml" && e.path().filename() != "kustomization.yaml") {
      EXPECT_TRUE(listed.contains(e.path().filename().string())) << e.path() << " is not in kustomization.yaml";
    }
  }
  auto tdx = ParseYamlDocuments(*ReadFileText(root_ / "tdx" / "kustomization.yaml"), "tdx/kustomization.yaml");
  ASSERT_TRUE(tdx);
  EXPECT_EQ((*tdx)[0].Str("resources/0"), "..");
  std::string patch = (*tdx)[0].Str("patches/0/path");
  EXPECT_EQ((*tdx)[0].Str("patches/0/target/name"), "cairn-aggregator");
  auto p = ParseYamlDocuments(*ReadFileText(root_ / "tdx" / patch), patch);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0].Str("spec/template/spec/runtimeClassName"), "kata-qemu-tdx");
  EXPECT_EQ((*p)[0].Str("kind"), "Deployment");
}

TEST_F(ManifestsTest, AggregatorIsAConfidentialContainersPodWithAKbsSealingKey) {
  const YamlNode& d = Get("Deployment", "cairn-aggregator").doc;
  EXPECT_EQ(d.Str("spec/replicas"), "1");
  EXPECT_EQ(d.Str("spec/strategy/type"), "Recreate");
  const YamlNode* spec = d.Find("spec/template/spec");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->Str("runtimeClassName"), "kata-qemu-snp");
  // The KBS resource and the Confidential Data Hub request that fetches it agree.
  const YamlNode* ann = d.Find("spec/template/metadata/annotations");
  ASSERT_TRUE(ann);
  ASSERT_TRUE(ann->Child("cairn.example.org/sealing-key-resource"));
  std::string uri = ann->Child("cairn.example.org/sealing-key-resource")->scalar;
  ASSERT_TRUE(uri.starts_with("kbs:///")) << uri;
  std::string resource = uri.substr(7);
  EXPECT_EQ(std::count(resource.begin(), resource.end(), '/'), 2) << "repository/type/tag: " << resource;
  std::string params = ann->Str("io.katacontainers.config.hypervisor.kernel_params");
  EXPECT_NE(params.find("agent.guest_components_rest_api=resource"), std::string::npos) << params;
  EXPECT_NE(params.find("agent.aa_kbc_params=cc_kbc::http"), std::string::npos) << params;
  const YamlNode& init = spec->Find("initContainers")->seq.at(0);
  std::string script = init.Str("command/2");
  EXPECT_NE(script.find("http://127.0.0.1:8006/cdh/resource/" + resource), std::string::npos) << script;
  EXPECT_TRUE(PinnedByDigest(init.Str("image"))) << init.Str("image");
  // The key volume is memory inside the pod VM, and the aggregator reads the key from it.
  const YamlNode* keys = Volume(*spec, "keys");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Str("emptyDir/medium"), "Memory");
  const YamlNode& c = spec->Find("containers")->seq.at(0);
  EXPECT_TRUE(PinnedByDigest(c.Str("image"))) << "the measured image is pinned by digest: " << c.Str("image");
  auto args = Args(c);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "run");
  EXPECT_EQ(ArgAfter(args, "--sealing"), "key-file");
  std::string key_file = ArgAfter(args, "--sealing-key-file");
  EXPECT_TRUE(key_file.starts_with(MountPath(c, "keys") + "/")) << key_file;
  EXPECT_NE(script.find(key_file), std::string::npos) << "the init container writes the file the aggregator reads";
  EXPECT_EQ(MountPath(init, "keys"), MountPath(c, "keys"));
  EXPECT_EQ(ArgAfter(args, "--attestation"), "auto");
  EXPECT_EQ(ArgAfter(args, "--log-format"), "json");
  EXPECT_FALSE(ArgAfter(args, "--metrics-listen").empty());
  EXPECT_EQ(c.Str("readinessProbe/httpGet/path"), "/healthz");
  std::string config = ArgAfter(args, "--config");
  EXPECT_EQ(config, MountPath(c, "config") + "/federation.toml");
  EXPECT_EQ(Volume(*spec, "config")->Str("configMap/name"), "cairn-federation");
  EXPECT_TRUE(ArgAfter(args, "--state-dir").starts_with(MountPath(c, "state") + "/"));
  EXPECT_EQ(Volume(*spec, "state")->Str("persistentVolumeClaim/claimName"), "cairn-aggregator-state");
  Get("PersistentVolumeClaim", "cairn-aggregator-state");
}

TEST_F(ManifestsTest, ServicePortsMatchTheContainerAndTheFederationConfig) {
  const YamlNode& d = Get("Deployment", "cairn-aggregator").doc;
  const YamlNode& c = d.Find("spec/template/spec/containers")->seq.at(0);
  std::map<std::string, std::string> container_ports;
  for (const auto& p : c.Find("ports")->seq) container_ports[p.Str("name")] = p.Str("containerPort");
  const YamlNode& svc = Get("Service", "cairn-aggregator").doc;
  std::map<std::string, std::string> service_ports;
  for (const auto& p : svc.Find("spec/ports")->seq) {
    service_ports[p.Str("name")] = p.Str("port");
    EXPECT_EQ(p.Str("port"), p.Str("targetPort")) << p.Str("name");
  }
  for (const char* name : {"attestation", "control", "data"}) {
    ASSERT_TRUE(service_ports.contains(name)) << name;
    EXPECT_EQ(service_ports[name], container_ports[name]) << name;
  }
  EXPECT_FALSE(service_ports.contains("metrics")) << "metrics stay off the participants' Service";
  const YamlNode& metrics = Get("Service", "cairn-aggregator-metrics").doc;
  EXPECT_EQ(metrics.Str("spec/type"), "ClusterIP");
  EXPECT_EQ(metrics.Str("spec/ports/0/port"), container_ports["metrics"]);
  EXPECT_EQ(PortOf(ArgAfter(Args(c), "--metrics-listen")), std::stoi(container_ports["metrics"]));
  // Selectors reach the pod.
  EXPECT_EQ(svc.Find("spec/selector")->map.at(0).second.scalar,
            d.Find("spec/template/metadata/labels")->map.at(0).second.scalar);

  // The federation config in the ConfigMap is valid, and listens on those ports.
  std::string toml = Get("ConfigMap", "cairn-federation").doc.Str("data/federation.toml");
  auto loaded = protocol::ParseFederationText(toml, "aggregator-config.yaml:federation.toml", ".");
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(PortOf(loaded->server.listen), std::stoi(container_ports["attestation"]));
  EXPECT_EQ(PortOf(loaded->server.control_listen), std::stoi(container_ports["control"]));
  EXPECT_EQ(PortOf(loaded->server.data_listen), std::stoi(container_ports["data"]));
  EXPECT_EQ(loaded->server.state_dir, ArgAfter(Args(c), "--state-dir"));
  EXPECT_EQ(loaded->federation.roster.size(), 3u);
}

TEST_F(ManifestsTest, ParticipantIsAnOrdinaryDeploymentWithSecretKeyAndValidConfig) {
  const YamlNode& d = Get("Deployment", "hospital-1").doc;
  const YamlNode* spec = d.Find("spec/template/spec");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->Find("runtimeClassName"), nullptr) << "participants need no confidential runtime";
  const YamlNode& c = spec->Find("containers")->seq.at(0);
  EXPECT_TRUE(PinnedByDigest(c.Str("image"))) << c.Str("image");
  auto args = Args(c);
  EXPECT_EQ(args.at(0), "run");
  std::string config_path = ArgAfter(args, "--config");
  EXPECT_EQ(config_path, MountPath(c, "config") + "/participant.toml");
  const YamlNode* key = Volume(*spec, "key");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->Str("secret/secretName"), "hospital-1-key");
  EXPECT_EQ(key->Str("secret/defaultMode"), "0400");
  EXPECT_EQ(c.Str("securityContext/allowPrivilegeEscalation"), "false");
  // Every claim a pod uses is defined.
  for (const auto& m : all_) {
    const YamlNode* vols = m.doc.Find("spec/template/spec/volumes");
    if (!vols) continue;
    for (const auto& v : vols->seq) {
      std::string claim = v.Str("persistentVolumeClaim/claimName");
      if (!claim.empty()) Get("PersistentVolumeClaim", claim);
    }
  }

  // participant.toml and policy.toml from the ConfigMap load with the real parsers.
  const YamlNode& cm = Get("ConfigMap", "hospital-1-config").doc;
  auto dir = std::filesystem::temp_directory_path() / ("cairn-manifests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "participant.toml", cm.Str("data/participant.toml")));
  auto pc = participant::LoadParticipantConfig(dir / "participant.toml");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(pc) << pc.error().message();
  EXPECT_EQ(pc->id, "hospital-1");
  EXPECT_TRUE(pc->key_file.string().starts_with(MountPath(c, "key") + "/")) << pc->key_file;
  EXPECT_TRUE(pc->policy.string().starts_with(MountPath(c, "config") + "/")) << pc->policy;
  EXPECT_TRUE(pc->state_dir.string().starts_with(MountPath(c, "state") + "/")) << pc->state_dir;
  EXPECT_TRUE(pc->data.train.string().starts_with(MountPath(c, "data") + "/")) << pc->data.train;
  EXPECT_TRUE(pc->aggregator.ends_with(":7700")) << pc->aggregator;
  auto policy = attestation::ParsePolicy(cm.Str("data/policy.toml"), "policy.toml");
  ASSERT_TRUE(policy) << policy.error().message();
  ASSERT_EQ(policy->platforms.size(), 1u);
  EXPECT_EQ(policy->platforms[0], attestation::Platform::kSevSnp);
  EXPECT_FALSE(policy->sev_snp.allow_debug);
  // The federation's roster names this participant.
  auto fed = protocol::ParseFederationText(Get("ConfigMap", "cairn-federation").doc.Str("data/federation.toml"),
                                           "federation.toml", ".");
  ASSERT_TRUE(fed);
  EXPECT_NE(fed->federation.FindById("hospital-1"), nullptr);
}

TEST_F(ManifestsTest, OperationsGuideNamesEveryManifestAndTheKbsResource) {
  auto doc = ReadFileText(SourceDir() / "docs" / "operations.md");
  ASSERT_TRUE(doc) << doc.error().message();
  for (const auto& e : std::filesystem::directory_iterator(root_)) {
    if (e.path().extension() == ".yaml") {
      EXPECT_NE(doc->find(e.path().filename().string()), std::string::npos) << e.path().filename();
    }
  }
  EXPECT_NE(doc->find("kbs:///default/cairn/sealing-key"), std::string::npos);
  EXPECT_NE(doc->find("kata-qemu-snp"), std::string::npos);
  EXPECT_NE(doc->find("kata-qemu-tdx"), std::string::npos);
}

}  // namespace
}  // namespace cairn::testing_support
