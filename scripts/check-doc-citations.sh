#!/usr/bin/env bash
# Checks that the documents cited in code comments exist in the repository.
#
# For every comment (`//`, `///`, `//!`) in a .rs file under crates/:
#   - every cited Markdown path (`docs/contract.md`, `README.md`, ...) must be a file in the
#     repository, relative to its root; a bare `contract.md` or an outside path such as
#     `shared/docs/interop.md` is reported, since a reader of the repository cannot follow it;
#   - `docs/<name>.md §N` (or §N.M) must match a heading `## N. ...` / `### N.M ...` there;
#   - `docs/<name>.md item N` / `items N, M and K` / `principle N` (ranges `N–M` too) must
#     match a numbered list item `N. ` at the start of a line there.
# URLs (`https://...`) are ignored. Needs only bash, grep and sed.
#
# Usage: scripts/check-doc-citations.sh        exit 0 when all resolve, 1 otherwise.

set -u
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

failures=0
checked=0

report() {
    echo "$1: $2" >&2
    failures=$((failures + 1))
}

# Escapes a section number such as 7.1 for use in an extended regular expression.
escape_dots() {
    printf '%s' "$1" | sed 's/\./\\./g'
}

check_item() { # location, doc, number
    if ! grep -qE "^$3\. " "$2"; then
        report "$1" "cites $2 item/principle $3, which has no numbered item $3"
    fi
}

while IFS= read -r hit; do
    location=${hit%%:*}
    rest=${hit#*:}
    location="$location:${rest%%:*}"
    text=${rest#*:}
    # Drop URLs, then keep what follows the first `//`: the comment.
    text=$(printf '%s\n' "$text" | sed -E 's#[A-Za-z][A-Za-z0-9+.-]*://[^[:space:]"`)>]*##g')
    case $text in
        *//*) comment=${text#*//} ;;
        *) continue ;;
    esac

    for path in $(printf '%s\n' "$comment" | grep -oE '[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b'); do
        checked=$((checked + 1))
        if [[ ! -f $path ]]; then
            report "$location" "cites $path, which is not a file in the repository"
        fi
    done

    # Sections: docs/<name>.md §N
    while IFS= read -r cite; do
        [[ -z $cite ]] && continue
        doc=${cite%% *}
        section=$(printf '%s\n' "$cite" | sed -E 's/.*§([0-9]+(\.[0-9]+)*).*/\1/')
        [[ -f $doc ]] || continue
        if ! grep -qE "^#+ $(escape_dots "$section")(\.|[[:space:]])" "$doc"; then
            report "$location" "cites $doc §$section, which has no heading numbered $section"
        fi
    done < <(printf '%s\n' "$comment" | grep -oE 'docs/[A-Za-z0-9_-]+\.md §[0-9]+(\.[0-9]+)*')

    # Numbered items: docs/<name>.md item(s)|principle(s) LIST
    while IFS= read -r cite; do
        [[ -z $cite ]] && continue
        doc=${cite%% *}
        [[ -f $doc ]] || continue
        list=$(printf '%s\n' "$cite" | sed -E 's/^[^ ]+ [a-z]+ //; s/–/-/g; s/ and /,/g; s/ //g')
        IFS=, read -ra parts <<< "$list"
        for part in "${parts[@]}"; do
            if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
                for ((n = BASH_REMATCH[1]; n <= BASH_REMATCH[2]; n++)); do
                    check_item "$location" "$doc" "$n"
                done
            elif [[ $part =~ ^[0-9]+$ ]]; then
                check_item "$location" "$doc" "$part"
            fi
        done
    done < <(printf '%s\n' "$comment" |
        grep -oE 'docs/[A-Za-z0-9_-]+\.md (items?|principles?) [0-9]+(( ?(–|-) ?|, | and )[0-9]+)*')
done < <(grep -rnE --include='*.rs' '//.*\.md\b' crates)

if ((failures > 0)); then
    echo "check-doc-citations: $failures unresolvable citation(s)" >&2
    exit 1
fi
echo "check-doc-citations: $checked cited document path(s) under crates/ resolve"
