#include "worker/net/tls_material.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "conf/loader.h"
#include "worker/net/openssl_ptr.h"

namespace wsgate::worker {

std::string openssl_error(const char* fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return fallback;
  }
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : fallback;
}

namespace {

constexpr size_t kMaxPemFile = 1024 * 1024;  // a chain of a few certificates is ~10 KiB
constexpr int64_t kExpiryWarning = 14 * 24 * 3600;

// What to blame: the config file, the entry's line and key, the named file.
struct Blame {
  const std::string& config_file;
  int line;
  std::string key;
  [[noreturn]] void fail(const std::string& path, const std::string& why) const {
    throw conf::ConfigError(config_file, line, key, path + ": " + why);
  }
};

// Bounded and without following a FIFO or a device forever: a path that
// names something endless is an error, not an out-of-memory.
std::string read_pem_file(const std::string& path, const Blame& blame) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    blame.fail(path, std::string("cannot read (") + std::strerror(errno) + ")");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    blame.fail(path, "not a regular file");
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      blame.fail(path, std::string("cannot read (") + std::strerror(err) + ")");
    }
    if (n == 0) {
      break;
    }
    if (text.size() + static_cast<size_t>(n) > kMaxPemFile) {
      ::close(fd);
      blame.fail(path, "larger than 1 MiB; expected a PEM file");
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

std::vector<X509Ptr> read_chain(const std::string& pem) {
  std::vector<X509Ptr> chain;
  BioPtr bio = pem_bio(pem);
  for (;;) {
    X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) {
      break;
    }
    chain.push_back(std::move(c));
  }
  ERR_clear_error();  // the end of the file reads as an error
  return chain;
}

int64_t not_after_of(const X509* c) {
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &t) != 1) {
    return 0;
  }
  return static_cast<int64_t>(timegm(&t));
}

std::vector<std::string> names_of(X509* c) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type == GEN_DNS) {
        const ASN1_IA5STRING* s = g->d.dNSName;
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn) > 0) {
      names.emplace_back(cn);
    }
  }
  return names;
}

void check_certificate(const conf::TlsCertificate& files, const CertificatePem& pem, const Blame& blame,
                       std::vector<std::string>* warnings) {
  const std::vector<X509Ptr> chain = read_chain(pem.cert);
  if (chain.empty()) {
    blame.fail(files.cert, "no PEM certificate in it");
  }
  BioPtr kb = pem_bio(pem.key);
  PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) {
    blame.fail(files.key, "no unencrypted PEM private key in it (" + openssl_error() + ")");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    blame.fail(files.key, "the key does not match the certificate in " + files.cert);
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (X509_check_issued(chain[i + 1].get(), chain[i].get()) != X509_V_OK) {
      blame.fail(files.cert, "the chain is out of order: certificate " + std::to_string(i + 2) +
                                 " did not issue certificate " + std::to_string(i + 1) +
                                 " (the leaf comes first, then each issuer)");
    }
  }
  const int64_t left = not_after_of(chain.front().get()) - static_cast<int64_t>(time(nullptr));
  if (warnings != nullptr && left < kExpiryWarning) {
    warnings->push_back(files.cert + (left <= 0 ? ": the certificate has expired"
                                                : ": the certificate expires in " + std::to_string(left / 3600) +
                                                      " hours"));
  }
}

// ---------------------------------------------------------------- the blob's text

void put(std::string& out, char tag, std::string_view bytes) {
  out.push_back(tag);
  out.append(std::to_string(bytes.size())).push_back('\n');
  out.append(bytes);
}

bool take(std::string_view& in, char& tag, std::string_view& bytes) {
  if (in.empty()) {
    return false;
  }
  tag = in.front();
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    return false;
  }
  size_t n = 0;
  const auto [end, ec] = std::from_chars(in.data() + 1, in.data() + nl, n);
  if (ec != std::errc() || end != in.data() + nl || n > in.size() - nl - 1) {
    return false;
  }
  bytes = in.substr(nl + 1, n);
  in.remove_prefix(nl + 1 + n);
  return true;
}

}  // namespace

std::string TlsMaterial::serialize() const {
  std::string out = "wsgate-tls-1\n";
  for (const ListenerPem& l : listeners) {
    put(out, 'L', l.address);
    for (const CertificatePem& c : l.certificates) {
      put(out, 'C', c.cert);
      put(out, 'K', c.key);
    }
    put(out, 'A', l.client_ca);
  }
  return out;
}

std::optional<TlsMaterial> TlsMaterial::parse(std::string_view text) {
  constexpr std::string_view kMagic = "wsgate-tls-1\n";
  if (text.substr(0, kMagic.size()) != kMagic) {
    return std::nullopt;
  }
  text.remove_prefix(kMagic.size());
  TlsMaterial m;
  char tag = 0;
  std::string_view bytes;
  while (take(text, tag, bytes)) {
    if (tag == 'L') {
      m.listeners.push_back(ListenerPem{std::string(bytes), {}, {}});
    } else if (m.listeners.empty()) {
      return std::nullopt;
    } else if (tag == 'C') {
      m.listeners.back().certificates.push_back(CertificatePem{std::string(bytes), {}});
    } else if (tag == 'K' && !m.listeners.back().certificates.empty()) {
      m.listeners.back().certificates.back().key = std::string(bytes);
    } else if (tag == 'A') {
      m.listeners.back().client_ca = std::string(bytes);
    } else {
      return std::nullopt;
    }
  }
  if (!text.empty()) {
    return std::nullopt;
  }
  return m;
}

const ListenerPem* TlsMaterial::find(const std::string& address) const {
  for (const ListenerPem& l : listeners) {
    if (l.address == address) {
      return &l;
    }
  }
  return nullptr;
}

TlsMaterial load_tls_material(const conf::Config& config, std::vector<std::string>* warnings) {
  TlsMaterial m;
  for (size_t i = 0; i < config.listen.size(); ++i) {
    const conf::Listen& l = config.listen[i];
    if (!l.tls) {
      continue;
    }
    ListenerPem pem;
    pem.address = l.address.to_string();
    const std::string key = "listen[" + std::to_string(i) + "].tls";
    for (size_t j = 0; j < l.tls->certificates.size(); ++j) {
      const conf::TlsCertificate& files = l.tls->certificates[j];
      const Blame blame{config.file, files.line, key + ".certificates[" + std::to_string(j) + "]"};
      CertificatePem c{read_pem_file(files.cert, blame), read_pem_file(files.key, blame)};
      check_certificate(files, c, blame, warnings);
      pem.certificates.push_back(std::move(c));
    }
    if (!l.tls->client_ca.empty()) {
      const Blame blame{config.file, l.tls->line, key + ".client_ca"};
      pem.client_ca = read_pem_file(l.tls->client_ca, blame);
      if (read_chain(pem.client_ca).empty()) {
        blame.fail(l.tls->client_ca, "no PEM certificate in it");
      }
    }
    m.listeners.push_back(std::move(pem));
  }
  return m;
}

std::optional<CertificateSummary> summarize_certificate(const std::string& pem) {
  const std::vector<X509Ptr> chain = read_chain(pem);
  if (chain.empty()) {
    return std::nullopt;
  }
  return CertificateSummary{{}, names_of(chain.front().get()), not_after_of(chain.front().get())};
}

}  // namespace wsgate::worker
