# shellcheck shell=bash
# The kernel matrix (test/matrix), for scripts that source this file.
#
#   matrix_load REPO      read REPO/test/matrix into M_NAMES (in file order)
#                         and M_SPEC, M_ROLE, M_CI (by name); returns 1
#                         with one line on stderr if the file is malformed
#   matrix_has NAME       is NAME a kernel of the matrix?
#   matrix_names_line     "6.1, 6.12, ...": for error messages

M_NAMES=()
declare -A M_SPEC=() M_ROLE=() M_CI=()

matrix_load() {
	local file=$1/test/matrix n=0 line name spec role ci rest
	[ -f "$file" ] || { echo "no $file" >&2; return 1; }
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		[[ "$line" =~ [^[:space:]] ]] || continue
		read -r name spec role ci rest <<<"$line"
		if [ -n "$rest" ] || [ -z "$ci" ] ||
		   ! [[ "$spec" =~ ^[a-z-]+:([0-9]+\.[0-9]+|newest):(amd64|cloud|rt)$ ]] ||
		   ! [[ "$role" =~ ^(serve|refuse)$ ]] ||
		   ! [[ "$ci" =~ ^(all|reduced|full)$ ]]; then
			echo "test/matrix:$n: want 'name SUITE:SERIES:FLAVOR serve|refuse all|reduced|full'" >&2
			return 1
		fi
		if matrix_has "$name"; then
			echo "test/matrix:$n: duplicate kernel '$name'" >&2
			return 1
		fi
		M_NAMES+=("$name")
		M_SPEC[$name]=$spec M_ROLE[$name]=$role M_CI[$name]=$ci
	done <"$file"
}

matrix_has() { [ -n "${M_SPEC[$1]:-}" ]; }

matrix_names_line() {
	local IFS=,
	echo "${M_NAMES[*]}" | sed 's/,/, /g'
}
