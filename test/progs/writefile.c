// SPDX-License-Identifier: GPL-2.0
/*
 * writefile FILE DATA     write DATA (no newline added) in one write()
 * writefile FILE --junk N write N bytes of 'x' in one write()
 * writefile FILE --empty  write zero bytes
 *
 * Prints "ok <bytes written>" or "errno <NAME>" and exits 0 or 1, so a
 * test can tell -EINVAL from -EPERM from a short write, which a shell's
 * "echo > file" does not show reliably.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EBUSY: return "EBUSY";
	case ENOENT: return "ENOENT";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	const char *data;
	size_t len;
	ssize_t n;
	char *junk;
	int fd;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: writefile FILE DATA|--junk N|--empty\n");
		return 2;
	}
	if (!strcmp(argv[2], "--junk") && argc == 4) {
		len = strtoul(argv[3], NULL, 10);
		junk = malloc(len + 1);
		if (!junk)
			return 2;
		memset(junk, 'x', len);
		data = junk;
	} else if (!strcmp(argv[2], "--empty")) {
		data = "";
		len = 0;
	} else {
		data = argv[2];
		len = strlen(data);
	}
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		printf("errno %s\n", errname(errno));
		return 1;
	}
	n = write(fd, data, len);
	if (n < 0) {
		printf("errno %s\n", errname(errno));
		return 1;
	}
	printf("ok %zd\n", n);
	return 0;
}
