#!/usr/bin/env bash
# The manual pages, as `meson install` installs them: every public function
# and function-like macro of include/mmsync.h and include/mmsync_read.h (the
# static inline ones included, the internal helpers ending in "_" left out)
# and every symbol of src/libmmsync.map has a page, a file of its own or a
# link to the page of its family whose NAME section lists it (so that
# `man NAME` and `whatis NAME` find it), to which mmsync(7) points; every
# constant of mmsync.h is named in a page, every struct shown whole in one
# with all its public fields; every command and long option of the CLI
# (tools/cli) is in mmsync(1); every page of man/ is installed; each page
# renders with groff without a single warning (groff -ww), in 80 columns,
# and its literal blocks (synopses, examples) as written.
#   tests/man_test.sh BUILDDIR SOURCEDIR
# Then it checks itself: the same checks on a copy of the installed pages
# with pages removed, on a struct field no page shows, on a page with a
# mistake and on a lost backslash, must fail.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
not_ok() {
	echo "not ok - $*"
	fails=$((fails + 1))
}

# ---- what must have a page ----
# Functions (exported or static inline) and function-like macros of the
# public headers, one name a line.
functions() {
	sed -nE -e 's/^MMSYNC_API [^(]*[ *](mmsync_[a-z0-9_]+)\(.*/\1/p' \
		-e 's/^static inline [^(]*[ *](mmsync_[a-z0-9_]+)\(.*/\1/p' \
		-e 's/^#define (MMSYNC_[A-Z0-9_]+)\(.*/\1/p' \
		"$src/include/mmsync.h" "$src/include/mmsync_read.h" | grep -v '_$' || true
	sed -nE 's/^[[:space:]]+(mmsync_[a-z0-9_]+);.*/\1/p' "$src/src/libmmsync.map"
}
names=$(functions | sort -u)
# The extraction itself must work: a pattern that matched nothing would
# make every check below pass.
for must in mmsync_write mmsync_strerror mmsync_read_begin mmsync_read_end mmsync_read_begin_call \
	mmsync_version_idx mmsync_version_size mmsync_version_checksum MMSYNC_OPTS \
	mmsync_view_hold mmsync_hold_release mmsync_wait; do
	grep -qx "$must" <<<"$names" || not_ok "the headers' scan misses $must: fix functions() in $0"
done
if grep -q '_$' <<<"$names"; then
	not_ok "internal helpers taken as public: $(grep '_$' <<<"$names" | tr '\n' ' ')"
fi
echo "# $(wc -l <<<"$names") public functions and macros"

# Constants (enum members and object-like macros) and structs of mmsync.h.
constants=$(sed -nE -e 's/^[[:space:]]+(MMSYNC_[A-Z0-9_]+) = .*/\1/p' \
	-e 's/^#define (MMSYNC_[A-Z0-9_]+) .*/\1/p' "$src/include/mmsync.h" |
	grep -vx 'MMSYNC_API' | sort -u)
structs=$(sed -nE 's/^struct (mmsync_[a-z_]+) \{.*/\1/p' "$src/include/mmsync.h" | sort -u)
# The public fields of each struct: "STRUCT FIELD" a line (comments, and
# the private fields ending in "_", left out).
fields=$(awk '
	/^struct mmsync_[a-z_]+ \{/ { s = $2; inside = 1; next }
	inside && /^\};/ { inside = 0; next }
	inside {
		line = $0
		if (incomment) {
			if (line !~ /\*\//)
				next
			sub(/.*\*\//, "", line)
			incomment = 0
		}
		gsub(/\/\*([^*]|\*[^\/])*\*\//, "", line)
		if (line ~ /\/\*/) {
			sub(/\/\*.*/, "", line)
			incomment = 1
		}
		if (line !~ /;/)
			next
		if (match(line, /\(\*[a-z_]+\)/)) {
			print s, substr(line, RSTART + 2, RLENGTH - 3)
			next
		}
		sub(/\[[^]]*\]/, "", line)
		sub(/;.*/, "", line)
		n = split(line, w, /[ \t*]+/)
		if (w[n] !~ /_$/)
			print s, w[n]
	}
' "$src/include/mmsync.h")
if ! grep -qx 'mmsync_stat wake_msgs' <<<"$fields" || ! grep -qx 'mmsync_writer_opts log' <<<"$fields" ||
	grep -q ' copy_$' <<<"$fields"; then
	not_ok "the header's scan of struct fields is wrong: fix $0"
fi
for must in MMSYNC_SINGLE_WRITER MMSYNC_LISTEN_SERVE MMSYNC_NR_FDS MMSYNC_MAX_PAYLOAD; do
	grep -qx "$must" <<<"$constants" || not_ok "the header's scan misses $must: fix $0"
done
for must in mmsync_view mmsync_stat mmsync_writer_opts mmsync_listen_opts; do
	grep -qx "$must" <<<"$structs" || not_ok "the header's scan misses struct $must: fix $0"
done

# The CLI's commands (its usage text) and long options (its string
# literals and getopt tables), as tools/cli has them.
cli_commands=$(grep -ohE '^[[:space:]]*"(usage: |[[:space:]]+)mmsync [a-z]+' "$src"/tools/cli/*.c |
	awk '{ print $NF }' | sort -u)
cli_options=$( (grep -ohE '"[^"]*"' "$src"/tools/cli/*.c | grep -oE -- '--[a-z][a-z-]*[a-z]' || true
	sed -nE 's/.*\{ "([a-z][a-z-]*)", (no|required|optional)_argument.*/--\1/p' "$src"/tools/cli/*.c) |
	sort -u)
for must in put cat stat serve read wait bench; do
	grep -qx "$must" <<<"$cli_commands" || not_ok "the CLI's scan misses the command $must: fix $0"
done
for must in --socket --grace-ms --any-writer --watch --hugetlb; do
	grep -qx -- "$must" <<<"$cli_options" || not_ok "the CLI's scan misses $must: fix $0"
done

# ---- the installed pages ----
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --tags man --quiet >/dev/null
mandir=$(find "$tmp/root" -type d -name man3 -path '*/man/man3' | head -n1)
[ -n "$mandir" ] || { echo "not ok - meson install --tags man installed no man3 directory"; exit 1; }
mandir=$(dirname "$mandir")

# The text of page $1 as an 80-column terminal shows it, without bold or
# underline; each page is rendered once (the checks below read it again).
text_of() {
	local cache
	cache=$tmp/text/$(tr / _ <<<"$1")
	[ -f "$cache" ] || { mkdir -p "$tmp/text"; groff -man -Tascii -P-cbou "$1" >"$cache" 2>/dev/null || true; }
	cat "$cache"
}

# Prints, one a line, what is wrong with the pages under $1 (a man
# directory holding man1, man3, man7); nothing when all is well.
coverage() {
	local dir=$1 n f word
	# whatis entries, as mandb would make them ("PAGE.3: NAME - ..." per
	# name): the names each page's NAME section lists for it.
	local -A listed=() refs=() one_words=() named=()
	while read -r f n; do
		[ "$f" != "$n" ] || listed[$n]=1
	done < <(cd "$dir/man3" && { lexgrog -- *.3 2>/dev/null || true; } |
		sed -nE 's/^([^:]+)\.3: "([^ ]+) - .*/\1 \2/p')
	for n in $names; do
		if [ ! -e "$dir/man3/$n.3" ]; then
			echo "$n has no page: no man3/$n.3 (a page in man/, or a name in man/meson.build)"
		elif [ -z "${listed[$n]:-}" ]; then
			echo "man3/$n.3 does not list $n in its NAME section (whatis would not find it)"
		fi
	done
	for n in mmsync.1 mmsync.7; do
		[ -f "$dir/man${n##*.}/$n" ] || echo "no $n"
	done
	local scd base
	for scd in "$src"/man/*.scd; do
		base=$(basename "$scd" .scd)
		[ -f "$dir/man${base##*.}/$base" ] || echo "man/$base.scd is not installed (man/meson.build)"
	done
	# mmsync(7) points to every function's page, mmsync(1) documents
	# every command and option of the CLI.
	while read -r word; do refs[$word]=1; done < <(text_of "$dir/man7/mmsync.7" |
		grep -oE '[A-Za-z0-9_]+\(3\)' || true)
	for n in $names; do
		[ -n "${refs[$n(3)]:-}" ] || echo "mmsync(7) does not point to $n(3)"
	done
	while read -r word; do one_words[$word]=1; done < <(text_of "$dir/man1/mmsync.1" |
		grep -oE -- 'mmsync [a-z]+|--[a-z][a-z-]*[a-z]' || true)
	for n in $cli_commands; do
		[ -n "${one_words[mmsync $n]:-}" ] || echo "mmsync(1) does not document the command $n"
	done
	for n in $cli_options; do
		[ -n "${one_words[$n]:-}" ] || echo "mmsync(1) does not document the option $n"
	done
	while read -r word; do named[$word]=1; done < <(cat "$dir"/man3/*.3 "$dir"/man7/*.7 2>/dev/null |
		grep -ohE 'MMSYNC_[A-Z0-9_]+' || true)
	for n in $constants; do
		[ -n "${named[$n]:-}" ] || echo "the constant $n is named in no man3 or man7 page"
	done
	# Each struct is shown whole ("struct NAME {") in a man3 page, which
	# names every public field of it.
	local page field
	for n in $structs; do
		page=$(grep -l "^struct $n {" "$dir"/man3/*.3 2>/dev/null | head -n1 || true)
		if [ -z "$page" ]; then
			echo "struct $n is shown (struct $n {) in no man3 page"
			continue
		fi
		local -A words=()
		while read -r word; do words[$word]=1; done < <(text_of "$page" | grep -oE '[A-Za-z0-9_]+' | sort -u)
		while read -r field; do
			[ -n "${words[$field]:-}" ] || echo "$(basename "$page") does not show the field $field of struct $n"
		done < <(awk -v s="$n" '$1 == s { print $2 }' <<<"$fields")
		unset words
	done
}

# Prints groff's warnings for each page given, prefixed with its name.
lint() {
	local page out
	for page in "$@"; do
		if LC_ALL=C grep -q '[^[:print:][:space:]]' "$page"; then
			echo "$(basename "$page"): bytes outside printable ASCII (write them as roff escapes)"
		fi
		for dev in ps utf8; do
			out=$(groff -ww -z -man -T"$dev" "$page" 2>&1 >/dev/null) || true
			[ -z "$out" ] || echo "$(basename "$page") (groff -T$dev): $out"
		done
		lexgrog "$page" >/dev/null 2>&1 || echo "$(basename "$page"): lexgrog finds no NAME section"
		# On an 80-column terminal (groff -man's 78n line), nothing overflows.
		out=$(text_of "$page" | awk 'length > 80 { print "  " $0 }')
		[ -z "$out" ] || echo "$(basename "$page"): lines wider than 80 columns:"$'\n'"$out"
	done
}

# Prints each line of a literal block (``` ... ```) of the scdoc sources
# (of $2/man, default the source's) that the page under $1 does not show as
# written: roff eats a lone backslash (\n, a line's last \) without a
# warning.
literal() {
	local scd base page
	for scd in "${2:-$src}"/man/*.scd; do
		base=$(basename "$scd" .scd)
		page=$1/man${base##*.}/$base
		[ -f "$page" ] || continue
		text_of "$page" >"$tmp/literal"
		# Whitespace squeezed on both sides; scdoc passes a literal
		# block's \\ on, which roff shows as \.
		awk -v base="$base" '
			function squeeze(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
			NR == FNR { text = text "\n" squeeze($0); next }
			/^```/ { inside = !inside; next }
			inside {
				line = squeeze($0)
				gsub(/\\\\/, "\\", line)
				if (line != "" && !index(text, line))
					print base ": the literal line \047" line "\047 does not render as written"
			}' "$tmp/literal" "$scd"
	done
}

problems=$(coverage "$mandir")
if [ -n "$problems" ]; then
	while IFS= read -r line; do not_ok "$line"; done <<<"$problems"
else
	echo "ok - every public function and macro has a page; the $(wc -w <<<"$constants") constants are named, the $(wc -w <<<"$structs") structs shown with their $(wc -l <<<"$fields") fields"
	echo "ok - mmsync(1) has the CLI's $(wc -w <<<"$cli_commands") commands and $(wc -w <<<"$cli_options") long options"
fi

pages=()
while IFS= read -r -d '' p; do pages+=("$p"); done < <(find "$mandir" -type f -print0 | sort -z)
problems=$(lint "${pages[@]}")
if [ -n "$problems" ]; then
	while IFS= read -r line; do not_ok "$line"; done <<<"$problems"
else
	echo "ok - ${#pages[@]} pages render without a warning (groff -ww -Tps, -Tutf8)"
fi

problems=$(literal "$mandir")
if [ -n "$problems" ]; then
	while IFS= read -r line; do not_ok "$line"; done <<<"$problems"
else
	echo "ok - the literal blocks (synopses, examples) render as written"
fi

# ---- the checks catch what they are for ----
cp -a "$mandir" "$tmp/broken"
rm "$tmp/broken/man3/mmsync_read_end.3" "$tmp/broken/man3/mmsync_wait.3" "$tmp/broken/man1/mmsync.1" \
	"$tmp/broken/man3/mmsync_write.3"
problems=$(coverage "$tmp/broken")
for n in 'mmsync_read_end has no page' 'mmsync_wait has no page' 'mmsync_reader_fd has no page' \
	'no mmsync.1' 'man/mmsync_wait.3.scd is not installed' 'mmsync(1) does not document the command put' \
	'mmsync(1) does not document the option --watch' 'struct mmsync_write_info is shown'; do
	grep -qF "$n" <<<"$problems" || not_ok "with pages removed, coverage() does not say '$n'"
done
problems=$(fields+=$'\nmmsync_stat new_field' coverage "$mandir")
grep -qF 'does not show the field new_field of struct mmsync_stat' <<<"$problems" ||
	not_ok "coverage() does not see a field of struct mmsync_stat missing from its page"
printf '.TH BROKEN 3\n.SH NAME\nbroken \\- a page with mistakes\n.SH DESCRIPTION\n.XX undefined\n\\fQ font\n' \
	>"$tmp/broken.3"
[ -n "$(lint "$tmp/broken.3")" ] || not_ok "lint() finds nothing wrong with a page that calls an undefined macro"
mkdir -p "$tmp/fake/man/man3"
printf '%s\n' 'x(3)' '' '# NAME' '' 'x - y' '' '```' 'printf("%s\\n", s);' '```' >"$tmp/fake/man/x.3.scd"
printf '%s\n' '.TH x 3' '.SH NAME' 'x \- y' '.SH SYNOPSIS' '.nf' 'printf("%s\n", s);' '.fi' \
	>"$tmp/fake/man/man3/x.3"
[ -n "$(literal "$tmp/fake/man" "$tmp/fake")" ] ||
	not_ok "literal() finds nothing wrong with a synopsis whose \\n roff ate"
((fails)) || echo "ok - the checks fail on removed pages, on a page groff warns about, on a lost backslash"

((fails == 0)) || { echo "$fails failures"; exit 1; }
