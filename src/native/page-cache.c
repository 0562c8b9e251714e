/*
 * Drops a file's clean pages from the OS page cache (posix_fadvise DONTNEED), for
 * bulk loads: see src/store/page-cache.ts for why and when. Also reports how many
 * pages of a range are resident (mincore), which the tests use to see the effect.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int args(napi_env env, napi_callback_info info, int32_t *fd, int64_t *off, int64_t *len) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return 0;
  return napi_get_value_int32(env, argv[0], fd) == napi_ok && napi_get_value_int64(env, argv[1], off) == napi_ok &&
         napi_get_value_int64(env, argv[2], len) == napi_ok && *off >= 0 && *len >= 0;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

/* dropPageCache(fd, offset, length): 0, or the errno of posix_fadvise (length 0: to the end of the file). */
static napi_value drop_page_cache(napi_env env, napi_callback_info info) {
  int32_t fd;
  int64_t off, len;
  if (!args(env, info, &fd, &off, &len)) return number(env, EINVAL);
#ifdef POSIX_FADV_DONTNEED
  return number(env, posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED));
#else
  return number(env, ENOSYS);
#endif
}

/* residentPages(fd, offset, length): pages of the range in the page cache, or -errno. */
static napi_value resident_pages(napi_env env, napi_callback_info info) {
  int32_t fd;
  int64_t off, len;
  if (!args(env, info, &fd, &off, &len)) return number(env, -EINVAL);
  long page = sysconf(_SC_PAGESIZE);
  int64_t start = off - off % page;
  size_t span = (size_t)(off + len - start);
  if (span == 0) return number(env, 0);
  void *map = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, (off_t)start);
  if (map == MAP_FAILED) return number(env, -errno);
  size_t pages = (span + page - 1) / page;
  unsigned char *vec = malloc(pages);
  double resident = -ENOMEM;
  if (vec != NULL) {
    if (mincore(map, span, vec) == 0) {
      resident = 0;
      for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
    } else {
      resident = -errno;
    }
    free(vec);
  }
  munmap(map, span);
  return number(env, resident);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dropPageCache", NAPI_AUTO_LENGTH, drop_page_cache, NULL, &fn);
  napi_set_named_property(env, exports, "dropPageCache", fn);
  napi_create_function(env, "residentPages", NAPI_AUTO_LENGTH, resident_pages, NULL, &fn);
  napi_set_named_property(env, exports, "residentPages", fn);
  return exports;
}
