/*
 * shim_additions.h: X.509 helpers for the aws-sns verification preset.
 *
 * Meant to sit next to Sources/CLibSSL/shim.h and be pulled in with
 *     #include "shim_additions.h"
 * at the end of shim.h (before its #endif), or pasted there. Every function is
 * `static inline`, so nothing has to be compiled or linked besides libcrypto.
 *
 * Conventions:
 *   - A certificate arrives as PEM bytes (pem, pemLen); only the first
 *     certificate block is read. Encrypted PEM headers are refused (the
 *     password callback always fails), so libcrypto never prompts on a tty.
 *   - Every path frees what it allocated and clears libcrypto's error queue,
 *     so a failure here never leaks into a later, unrelated ERR_get_error().
 */
#ifndef CTB_SHIM_ADDITIONS_H
#define CTB_SHIM_ADDITIONS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Smallest RSA modulus accepted for a signing certificate (Amazon SNS uses 2048). */
#define CTB_MIN_RSA_BITS 2048

/* Password callback that always fails: a PEM block claiming to be encrypted is unreadable. */
static inline int ctb__refuse_password(char *buf, int size, int rwflag, void *userdata) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return -1;
}

/* Internal: the first certificate in a PEM buffer, or NULL. The caller owns the result (X509_free). */
static inline X509 *ctb__x509_from_pem(const char *pem, size_t pemLen) {
    BIO *bio;
    X509 *cert;
    if (pem == NULL || pemLen == 0 || pemLen > (size_t)INT_MAX) return NULL;
    bio = BIO_new_mem_buf(pem, (int)pemLen);
    if (bio == NULL) return NULL;
    cert = PEM_read_bio_X509(bio, NULL, ctb__refuse_password, NULL);
    BIO_free(bio);
    return cert;
}

/* Internal: the certificate's public key when it is RSA of at least CTB_MIN_RSA_BITS, or NULL.
 * The caller owns the result (EVP_PKEY_free). */
static inline EVP_PKEY *ctb__rsa_key_of(X509 *cert) {
    EVP_PKEY *key;
    if (cert == NULL) return NULL;
    key = X509_get_pubkey(cert); /* new reference */
    if (key == NULL) return NULL;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < CTB_MIN_RSA_BITS) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/*
 * Verifies an RSA PKCS#1 v1.5 signature over data with the public key of the
 * PEM certificate: SHA-1 when sha256 == 0 (SNS SignatureVersion 1), SHA-256
 * otherwise (SignatureVersion 2).
 *
 * Returns 1 when the signature verifies, 0 when it does not (including a
 * signature of the wrong length), -1 when no verification could be attempted
 * (unreadable certificate, key not RSA >= 2048 bits, bad arguments, libcrypto
 * failure). The certificate's validity period is NOT checked here; see
 * ctb_x509_validity.
 */
static inline int ctb_verify_x509_signature(const char *pem, size_t pemLen, int sha256, const uint8_t *data,
                                            size_t dataLen, const uint8_t *sig, size_t sigLen) {
    static const uint8_t empty = 0;
    int result = -1;
    int rc;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;

    if (sig == NULL || sigLen == 0 || (data == NULL && dataLen != 0)) goto done;
    cert = ctb__x509_from_pem(pem, pemLen);
    if (cert == NULL) goto done;
    key = ctb__rsa_key_of(cert);
    if (key == NULL) goto done;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) goto done;
    if (EVP_DigestVerifyInit(ctx, NULL, sha256 ? EVP_sha256() : EVP_sha1(), NULL, key) != 1) goto done;
    rc = EVP_DigestVerify(ctx, sig, sigLen, data != NULL ? data : &empty, dataLen);
    /* Past this point the inputs were usable: anything but 1 is a signature that does not verify. */
    result = (rc == 1) ? 1 : 0;

done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    return result;
}

/*
 * Checks the certificate's validity period at `at` (seconds since 1970; a
 * negative value means the current time, via X509_cmp_current_time).
 *
 * Returns 1 when valid, -2 when not yet valid (notBefore is later), -3 when
 * expired (notAfter is at or before the time), -1 when the certificate or one
 * of its dates is unreadable.
 */
static inline int ctb_x509_validity(const char *pem, size_t pemLen, int64_t at) {
    int result = -1;
    int before, after;
    time_t t = (time_t)at;
    X509 *cert = ctb__x509_from_pem(pem, pemLen);
    if (cert == NULL) goto done;
    /* X509_cmp_*time: -1 when the certificate's time is earlier than or equal to the reference, 1 when
     * later, 0 on error. */
    before = at < 0 ? X509_cmp_current_time(X509_get0_notBefore(cert)) : X509_cmp_time(X509_get0_notBefore(cert), &t);
    after = at < 0 ? X509_cmp_current_time(X509_get0_notAfter(cert)) : X509_cmp_time(X509_get0_notAfter(cert), &t);
    if (before == 0 || after == 0)
        result = -1;
    else if (before > 0)
        result = -2;
    else if (after < 0)
        result = -3;
    else
        result = 1;
done:
    X509_free(cert);
    ERR_clear_error();
    return result;
}

/*
 * Copies the subject's commonName (UTF-8, NUL-terminated) into out[0..<outLen].
 * Returns its length in bytes, or -1 when the certificate is unreadable, has no
 * CN or more than one, the CN holds a NUL byte, or it does not fit.
 */
static inline int ctb_x509_subject_cn(const char *pem, size_t pemLen, char *out, size_t outLen) {
    int result = -1;
    int idx, n;
    unsigned char *utf8 = NULL;
    const X509_NAME *name;
    X509_NAME_ENTRY *entry;
    X509 *cert = ctb__x509_from_pem(pem, pemLen);
    if (cert == NULL || out == NULL || outLen == 0) goto done;
    name = X509_get_subject_name(cert);
    idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) goto done;
    entry = X509_NAME_get_entry(name, idx);
    if (entry == NULL) goto done;
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (n < 0 || (size_t)n >= outLen || memchr(utf8, 0, (size_t)n) != NULL) goto done;
    memcpy(out, utf8, (size_t)n);
    out[n] = '\0';
    result = n;
done:
    OPENSSL_free(utf8);
    X509_free(cert);
    ERR_clear_error();
    return result;
}

/*
 * 1 when the buffer holds a readable PEM certificate whose key is RSA of at
 * least CTB_MIN_RSA_BITS bits (what SNS signs with), 0 otherwise. Used to
 * decide whether a fetched body may be cached.
 */
static inline int ctb_x509_is_usable_rsa_certificate(const char *pem, size_t pemLen) {
    X509 *cert = ctb__x509_from_pem(pem, pemLen);
    EVP_PKEY *key = ctb__rsa_key_of(cert);
    int result = key != NULL ? 1 : 0;
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    return result;
}

#endif /* CTB_SHIM_ADDITIONS_H */
