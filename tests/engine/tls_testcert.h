/* tls_testcert.h - a throw-away certificate for the TLS unit tests.
 *
 * test_tls_io.c and test_tls_resume.c both need a PEM holding a
 * self-signed ECDSA P-256 certificate for CN io.test and its key (the
 * certificate is also the CA a verifying client trusts); nothing secret is
 * committed, each run makes its own. Header-only: each test is one file.
 */
#ifndef SLUICE_TESTS_TLS_TESTCERT_H
#define SLUICE_TESTS_TLS_TESTCERT_H

#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Writes a new certificate and key to a new temporary file whose name,
 * made from <prefix> ("/tmp/NAME-XXXXXX"), goes to <path> (<len> bytes);
 * the caller unlinks it. */
static inline void tls_test_make_pem(char *path, size_t len, const char *prefix)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *f;
	int fd;

	cr_assert(key && x);
	cr_assert(X509_set_version(x, 2) == 1);
	cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
	cr_assert(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	cr_assert(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	cr_assert(X509_set_pubkey(x, key) == 1);
	n = X509_get_subject_name(x);
	cr_assert(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					     (const unsigned char *)"io.test", -1, -1, 0) == 1);
	cr_assert(X509_set_issuer_name(x, n) == 1);
	cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
	snprintf(path, len, "%s", prefix);
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	cr_assert(f);
	cr_assert(PEM_write_X509(f, x) == 1);
	cr_assert(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

#endif /* SLUICE_TESTS_TLS_TESTCERT_H */
