/* fuzz_fcgi.c - libFuzzer target: FastCGI record framing and PARAMS lookup on arbitrary bytes */
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	char out[128];

	while (pos < size) {
		struct sim_fcgi_hdr h;
		long total = sim_fcgi_record_peek(data + pos, size - pos, &h);

		if (total <= 0)
			break;
		if (h.type == SIM_FCGI_PARAMS) {
			(void)sim_fcgi_param_get(data + pos + SIM_FCGI_HEADER_LEN, h.clen,
			                         "HTTP_X_REQUEST_ID", out, sizeof(out));
			(void)sim_fcgi_param_get(data + pos + SIM_FCGI_HEADER_LEN, h.clen, "REQUEST_ID",
			                         out, 1);
		}
		pos += (size_t)total;
	}
	/* the whole input as a PARAMS stream too */
	(void)sim_fcgi_param_get(data, size, "REQUEST_ID", out, sizeof(out));
	return 0;
}
