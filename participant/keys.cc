#include "participant/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include <zmq.h>

#include "common/core/file.h"

namespace cairn::participant {

Result<std::string> GenerateKeyFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Fail(ErrorCode::kAlreadyExists, path.string() + " already exists: refusing to overwrite a key");
  }
  CAIRN_ASSIGN_OR_RETURN(auto kp, crypto::X25519KeyPair::Generate());
  net::CurveKey pub;
  std::memcpy(pub.data(), kp.public_key().data(), 32);
  // The file's text is composed in guarded memory: the secret's Z85 form never sits in a
  // std::string that is freed unwiped.
  constexpr std::string_view kHeader = "cairn-curve-key v1\npublic ";
  constexpr std::string_view kSecretTag = "\nsecret ";
  const std::string public_z85 = net::Z85Encode(pub);
  const std::size_t size = kHeader.size() + 40 + kSecretTag.size() + 40 + 1;
  CAIRN_ASSIGN_OR_RETURN(crypto::SecretBytes text, crypto::SecretBytes::Allocate(size + 1));  // + the NUL z85 writes
  char* out = reinterpret_cast<char*>(text.data());
  std::memcpy(out, kHeader.data(), kHeader.size());
  std::memcpy(out + kHeader.size(), public_z85.data(), 40);
  std::memcpy(out + kHeader.size() + 40, kSecretTag.data(), kSecretTag.size());
  if (zmq_z85_encode(out + kHeader.size() + 40 + kSecretTag.size(), kp.secret_key().data(), 32) == nullptr) {
    return Fail(ErrorCode::kInternal, "cannot encode the secret key");
  }
  out[size - 1] = '\n';
  // O_EXCL: never replace a file that appeared in between.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, out, size);
  bool ok = n == static_cast<ssize_t>(size) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Fail(ErrorCode::kIo, "cannot write " + path.string());
  return public_z85;
}

Result<CurveKeyPair> LoadKeyFile(const std::filesystem::path& path) {
  // The file holds the secret in text: it is read into guarded memory and parsed in place, so no
  // std::string or stream buffer holding it is freed unwiped.
  auto read = crypto::ReadSecretFile(path, 4096, /*owner_only=*/true);
  if (!read && read.error().code() == ErrorCode::kNotFound) {
    return Fail(ErrorCode::kNotFound, "key file " + path.string() + " not found: create it with "
                                          "'cairn-participant keygen --out " + path.string() + "'");
  }
  if (!read) return Fail(std::move(read).error().Context("key file"));
  crypto::SecretBytes file = std::move(*read);
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  auto bad = [&] { return Fail(ErrorCode::kInvalidArgument, path.string() + " is not a cairn-curve-key v1 file"); };
  const std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos || text.substr(0, eol) != "cairn-curve-key v1") return bad();
  // Then "public <key>" and "secret <key>", separated by any whitespace.
  std::string_view rest = text.substr(eol + 1);
  auto next_token = [&rest]() {
    constexpr std::string_view kSpace = " \t\r\n\v\f";
    const std::size_t start = rest.find_first_not_of(kSpace);
    if (start == std::string_view::npos) {
      rest = {};
      return std::string_view{};
    }
    const std::size_t end = std::min(rest.find_first_of(kSpace, start), rest.size());
    const std::string_view token = rest.substr(start, end - start);
    rest = rest.substr(end);
    return token;
  };
  const std::string_view tag1 = next_token();
  const std::string_view pub = next_token();
  const std::string_view tag2 = next_token();
  const std::string_view sec = next_token();
  if (tag1 != "public" || tag2 != "secret") return bad();
  auto p = net::Z85Decode(pub);
  auto s = net::Z85Decode(sec);
  if (!p || !s) {
    if (s) crypto::Wipe(*s);
    return bad();
  }
  CurveKeyPair kp;
  kp.public_key = *p;
  auto secret = crypto::SecretBytes::CopyFrom(*s);
  crypto::Wipe(*s);
  if (!secret) return Fail(secret.error());
  kp.secret_key = std::move(*secret);
  // The secret must match the public key.
  CAIRN_ASSIGN_OR_RETURN(auto check, crypto::X25519KeyPair::FromSecret(kp.secret_key.span()));
  if (std::memcmp(check.public_key().data(), kp.public_key.data(), 32) != 0) {
    return Fail(ErrorCode::kInvalidArgument, path.string() + ": the public key does not match the secret key");
  }
  return kp;
}

}  // namespace cairn::participant
