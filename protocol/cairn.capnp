# Cairn wire protocol, version 1.
#
# Control-plane and attestation messages travel as one Envelope per ZeroMQ message (after the
# ROUTER routing frame). Data-plane messages are two frames: a ChunkHeader, then the sealed
# payload as raw bytes (never copied into a Cap'n Proto message). Every reader sets a traversal
# limit derived from the message's size bound (protocol/limits.h). See docs/protocol.md.
@0x993e4dc96d404947;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("cairn::wire");

const protocolMajor :UInt16 = 1;
const protocolMinor :UInt16 = 0;

enum Platform {
  sim @0;
  sevSnp @1;
  tdx @2;
}

# Attestation endpoint (plain ZeroMQ; no secrets travel here).
struct GetEvidence {
  nonce @0 :Data;            # 32 random bytes chosen by the participant
  participantId @1 :Text;
}

struct Evidence {
  platform @0 :Platform;
  report @1 :Data;           # SNP report, TDX quote or sim report
  certificates @2 :List(Data);  # DER
  collateral @3 :Data;       # optional TDX collateral bundle (JSON)
  curveKey @4 :Data;         # 32-byte X25519 CurveZMQ server key
  hpkeKey @5 :Data;          # 32-byte X25519 HPKE recipient key
  signingKey @6 :Data;       # 32-byte Ed25519 key that signs round results
  federationConfig @7 :Data; # canonical JSON of the federation config; its SHA-256 is bound
  controlPort @8 :UInt16;
  dataPort @9 :UInt16;
  softwareVersion @10 :Text;
  challenge @11 :Data;       # 32 fresh random bytes: what a participant's own evidence binds
                             # (mutual attestation); single use, expires
}

# Control plane (CurveZMQ; the sender's identity comes from the ZAP handler, never from a field).
struct Hello {
  configHash @0 :Data;       # SHA-256 of the attested federation config the participant accepted
  lastRound @1 :UInt64;      # last round result the participant verified (0 = none)
  lastResultHash @2 :Data;   # its hash (empty when none)
  mutualEvidence @3 :Evidence;  # optional: the participant's own evidence (mutual attestation)
  hasMutualEvidence @4 :Bool;
  challenge @5 :Data;        # the aggregator challenge the mutual evidence binds (32 bytes)
}

struct Welcome {
  session @0 :Data;          # 16 random bytes naming this participant's data-plane session
  headRound @1 :UInt64;      # last completed round (0 = none)
  headHash @2 :Data;         # hash of the last round result
  modelVersion @3 :UInt64;
  nonce @4 :Data;            # 32 bytes: a fresh aggregator nonce (mutual attestation)
  wantFeatureStats @5 :Bool; # federated standardization: send FeatureStats now
  catchUp @6 :List(RoundResult);  # results after the participant's last verified one, up to the head
}

# A returning participant that missed more results than one Welcome carries asks for the next
# page of them (protocol 1.1).
struct CatchUpRequest {
  afterRound @0 :UInt64;     # send the results after this round
}

struct CatchUp {
  headRound @0 :UInt64;      # the head now (it may have moved on since the Welcome)
  headHash @1 :Data;
  results @2 :List(RoundResult);  # at most 512, from afterRound + 1 on, in order
}

enum Encoding {
  float32 @0;
  bfloat16 @1;
  float16 @2;
  ring32 @3;                 # masked aggregation: elements of Z_{2^32}
}

struct Task {
  localEpochs @0 :UInt32;
  batchSize @1 :UInt32;
  learningRate @2 :Float64;
  optimizer @3 :Text;        # "sgd" | "adam"
  momentum @4 :Float64;
  proximalMu @5 :Float64;    # FedProx μ (0 = FedAvg)
  clipNorm @6 :Float64;      # L2 bound the aggregator enforces on each update (0 = none)
  seed @7 :UInt64;
  reportClipBit @8 :Bool;    # adaptive clipping: participant reports ‖Δ‖ ≤ clipNorm
  featureMean @9 :List(Float64);  # federated standardization: pooled feature means
  featureStd @10 :List(Float64);  # and standard deviations (empty = none)
}

struct ModelDownload {
  modelVersion @0 :UInt64;
  modelHash @1 :Data;        # SHA-256 of the float32 little-endian parameters
  numParams @2 :UInt64;
  key @3 :Data;              # 32-byte AES-256-GCM key of the sealed model (control channel only)
  noncePrefix @4 :Data;      # 4 bytes; chunk nonce = prefix ‖ u64 big-endian chunk index
  chunks @5 :UInt32;
  chunkBytes @6 :UInt32;     # plaintext bytes per chunk (the last may be shorter)
  encoding @7 :Encoding;
}

struct RoundOffer {
  round @0 :UInt64;
  model @1 :ModelDownload;
  task @2 :Task;
  deadlineMs @3 :UInt64;     # milliseconds from now until commits are no longer accepted
  uploadChunkBytes @4 :UInt32;
  uploadEncoding @5 :Encoding;
  cohortSize @6 :UInt32;
  masking @7 :MaskingSetup;  # pairwise masking (issue 8): set when hasMasking
  hasMasking @8 :Bool;
}

# Pairwise masking: what every member of a masked round's cohort must agree on
# (docs/masking.md, "Wiring it into the round").
struct MaskingSetup {
  graphSeed @0 :Data;        # 32 bytes from the enclave's CSPRNG: places participants on the graph
  cohort @1 :List(Text);     # roster ids in roster order; a participant's index is its position
}

struct UploadBegin {
  round @0 :UInt64;
  enc @1 :Data;              # HPKE encapsulated key (32 bytes)
  chunks @2 :UInt32;
  totalBytes @3 :UInt64;     # plaintext bytes of the encoded update
}

struct UploadReady {
  round @0 :UInt64;          # the aggregator has a staging slot: stream the chunks now
}

struct Metric {
  name @0 :Text;
  value @1 :Float64;
}

struct Commit {
  round @0 :UInt64;
  enc @1 :Data;              # must equal the UploadBegin's
  chunks @2 :UInt32;
  digest @3 :Data;           # SHA-256 over the chunks' AEAD tags in index order
  numExamples @4 :UInt64;
  metrics @5 :List(Metric);  # training loss etc. (aggregate statistics only)
  withinClip @6 :Bool;       # adaptive clipping bit
}

enum RejectCode {
  malformed @0;
  wrongRound @1;
  notInCohort @2;
  duplicate @3;
  wrongShape @4;
  wrongChunkCount @5;
  badChunk @6;
  nonFinite @7;
  normTooLarge @8;
  oversized @9;
  lateCommit @10;
  noUpload @11;
  digestMismatch @12;
  versionMismatch @13;
  configMismatch @14;
  rollback @15;
  busy @16;
  attestationFailed @17;
}

struct CommitAck {
  round @0 :UInt64;
}

struct Rejected {
  round @0 :UInt64;
  code @1 :RejectCode;
  detail @2 :Text;           # metadata only: names the rule, never a value of the update
}

struct EvalReport {
  modelVersion @0 :UInt64;
  round @1 :UInt64;
  metrics @2 :List(Metric);
}

enum RoundStatus {
  completed @0;
  failedQuorum @1;
  aborted @2;
}

struct RoundResult {
  federationId @0 :Text;
  round @1 :UInt64;
  status @2 :RoundStatus;
  detail @3 :Text;
  contributors @4 :List(Text);
  numExamples @5 :UInt64;
  modelVersion @6 :UInt64;
  modelHash @7 :Data;
  numParams @8 :UInt64;
  strategy @9 :Text;
  strategyParams @10 :List(Metric);
  platform @11 :Text;
  configHash @12 :Data;
  epsilonSpent @13 :Float64;
  delta @14 :Float64;
  noiseMultiplier @15 :Float64;
  clipNorm @16 :Float64;
  prevHash @17 :Data;
  unixMillis @18 :Int64;
  signature @19 :Data;       # Ed25519 over the canonical signing bytes (protocol/types.h)
  final @20 :Bool;           # no further rounds follow
  model @21 :ModelDownload;  # where to fetch the model this result names
  metrics @22 :List(Metric); # aggregate metrics of the round (mean training loss, ...)
  extensions @23 :List(Metric);  # named numbers added by later features (also signed)
}

struct ErrorReply {
  code @0 :RejectCode;
  message @1 :Text;
}

struct Goodbye {
  reason @0 :Text;
}

# Federated standardization: a participant's local feature moments, seen only by the enclave,
# which releases only the pooled mean and standard deviation (in every Task).
struct FeatureStats {
  count @0 :UInt64;
  sum @1 :List(Float64);
  sumSquares @2 :List(Float64);
}

struct Envelope {
  major @0 :UInt16;
  minor @1 :UInt16;
  body :union {
    getEvidence @2 :GetEvidence;
    evidence @3 :Evidence;
    hello @4 :Hello;
    welcome @5 :Welcome;
    roundOffer @6 :RoundOffer;
    uploadBegin @7 :UploadBegin;
    uploadReady @8 :UploadReady;
    commit @9 :Commit;
    commitAck @10 :CommitAck;
    rejected @11 :Rejected;
    roundResult @12 :RoundResult;
    evalReport @13 :EvalReport;
    error @14 :ErrorReply;
    goodbye @15 :Goodbye;
    ping @16 :Void;
    featureStats @17 :FeatureStats;
    secagg @18 :Data;          # masking (issue 8): one secagg::Message (common/secagg/messages.h)
    analytics @19 :Data;       # clean-room analytics (issue 9): partials and answers
    catchUpRequest @20 :CatchUpRequest;  # participant → aggregator (1.1)
    catchUp @21 :CatchUp;                # aggregator → participant (1.1)
  }
}

# Data plane: frame 1 is a ChunkHeader; frame 2 (when present) is the sealed chunk.
enum ChunkKind {
  modelRequest @0;           # participant → aggregator: send me chunks [index, end) of version
  modelChunk @1;             # aggregator → participant
  updateChunk @2;            # participant → aggregator
}

struct ChunkHeader {
  major @0 :UInt16;
  minor @1 :UInt16;
  session @2 :Data;          # 16 bytes, from Welcome
  kind @3 :ChunkKind;
  round @4 :UInt64;          # update chunks: the round; model chunks/requests: the model version
  index @5 :UInt32;
  last @6 :Bool;
  end @7 :UInt32;            # modelRequest: one past the last chunk wanted
}
