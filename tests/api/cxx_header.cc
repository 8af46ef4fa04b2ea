// cxx_header.cc - sluice.h compiles as C++ and its API links from C++:
// a C++ program registers a hook and a service, and checks the API version.
#include <sluice.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static_assert(SLUICE_API_VERSION >= 2, "the host API is there");

static sluice_verdict hook(sluice_req *r, void *)
{
	sluice_str p = sluice_req_path(r);
	return p.len ? SLUICE_PASS : SLUICE_ANSWER;
}

static sluice_result start(sluice_svc *svc, const sluice_req *, void *)
{
	sluice_svc_set_ctx(svc, nullptr);
	return SLUICE_OK;
}

static void resume(sluice_svc *svc, void *)
{
	sluice_header h[] = { { "Content-Type", "text/plain" } };
	if (sluice_svc_head(svc, 200, h, 1, 0) == SLUICE_IO_OK)
		(void)sluice_svc_finish(svc);
}

static void done(const sluice_log *l, void *) { (void)l->term; }

int main()
{
	static const sluice_service_ops ops = { start, resume, nullptr };
	char *err = nullptr;
	sluice *e = sluice_new_from_text(sluice_default_config(), "cxx", &err);

	if (!e) {
		std::fprintf(stderr, "cxx_header: %s\n", err ? err : "?");
		std::free(err);
		return 1;
	}
	int bad = sluice_set_request_hook(e, hook, nullptr) != SLUICE_OK ||
		  sluice_set_completion_hook(e, done, nullptr) != SLUICE_OK ||
		  sluice_register_service(e, "cxx", &ops, nullptr) != SLUICE_OK ||
		  sluice_register_service(e, "cxx", &ops, nullptr) != SLUICE_E_STATE ||
		  sluice_register_service(e, "bad name", &ops, nullptr) != SLUICE_E_INVALID ||
		  sluice_check(e, &err) != 0 || std::strlen(sluice_version()) == 0;
	sluice_free(e);
	std::printf("cxx_header: %s\n", bad ? "FAILED" : "ok");
	return bad;
}
