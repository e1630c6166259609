#include "participant/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

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
  net::CurveKey sec;
  std::memcpy(sec.data(), kp.secret_key().data(), 32);
  std::string text = "cairn-curve-key v1\npublic " + net::Z85Encode(pub) + "\nsecret " + net::Z85Encode(sec) + "\n";
  crypto::Wipe(sec);
  // O_EXCL: never replace a file that appeared in between.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
    return Fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  ssize_t n = ::write(fd, text.data(), text.size());
  bool ok = n == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
  if (!ok) return Fail(ErrorCode::kIo, "cannot write " + path.string());
  return net::Z85Encode(pub);
}

Result<CurveKeyPair> LoadKeyFile(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(ErrorCode::kNotFound, "key file " + path.string() + " not found: create it with "
                                          "'cairn-participant keygen --out " + path.string() + "'");
  }
  if ((st.st_mode & 077) != 0) {
    return Fail(ErrorCode::kPermissionDenied, "key file " + path.string() +
                                                  " is readable by other users: chmod 600 it");
  }
  // The file holds the secret in text: it is read into guarded memory and parsed in place, so no
  // std::string or stream buffer holding it is freed unwiped.
  CAIRN_ASSIGN_OR_RETURN(crypto::SecretBytes file, crypto::ReadSecretFile(path, 4096));
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  auto bad = [&] { return Fail(ErrorCode::kInvalidArgument, path.string() + " is not a cairn-curve-key v1 file"); };
  const std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos || text.substr(0, eol) != "cairn-curve-key v1") return bad();
  // Then "public <key>" and "secret <key>", separated by any whitespace.
  std::string_view rest = text.substr(eol + 1);
  auto next_token = [&rest]() {
    constexpr std::string_view kSpace = " \t\r\n";
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
  if (!p || !s) return bad();
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
