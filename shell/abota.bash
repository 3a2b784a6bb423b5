# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for abota. Verbs and options are read from abota's own --help, so that the
# completion follows the binary it completes.

__abota_options() { # BINARY [VERB]: every long option, with a trailing "=" when it takes a value
        "$@" --help 2>/dev/null | sed -n 's/^ \{1,\}\(-[A-Za-z] \{1,\}\)\{0,1\}\(--[a-z][a-z0-9-]*=\{0,1\}\).*/\2/p'
}

__abota_verbs() {
        "$1" --help 2>/dev/null | sed -n '/^Verbs:/,/^$/{/^  /s/^ *\([a-z-]*\).*/\1/p}'
}

__abota_values() { # OPTION VALUE-PREFIX
        case $1 in
        --json) compgen -W 'pretty short off' -- "$2" ;;
        --verify | --sync | --split | --dry-run) compgen -W 'yes no' -- "$2" ;;
        --empty) compgen -W 'refuse allow require force create' -- "$2" ;;
        --compress) compgen -W 'none zstd xz' -- "$2" ;;
        --sign) compgen -W 'gpg no' -- "$2" ;;
        --seed) compgen -W 'random' -- "$2" ;;
        --size) compgen -W 'auto' -- "$2" ;;
        --definitions | --root | --transfer-source | --state-dir | --esp | --efivarfs | --gpg-homedir)
                compgen -d -- "$2" ;;
        --image) compgen -f -- "$2" ;;
        esac
}

_abota() {
        local cmd=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} verb= i w
        for ((i = 1; i < COMP_CWORD; i++)); do
                w=${COMP_WORDS[i]}
                case $w in
                -* | =) ;;
                *) [ "${COMP_WORDS[i - 1]}" = "=" ] || { verb=$w; break; } ;;
                esac
        done
        COMPREPLY=()

        # --option=value: one word, or three when "=" is in COMP_WORDBREAKS
        if [ "$prev" = "=" ] && [ "$COMP_CWORD" -ge 2 ]; then
                mapfile -t COMPREPLY < <(__abota_values "${COMP_WORDS[COMP_CWORD - 2]}" "$cur")
                return 0
        fi
        if [ "$cur" = "=" ]; then
                mapfile -t COMPREPLY < <(__abota_values "$prev" "")
                return 0
        fi
        case $cur in
        --*=*)
                mapfile -t COMPREPLY < <(__abota_values "${cur%%=*}" "${cur#*=}" | sed "s|^|${cur%%=*}=|")
                return 0
                ;;
        -*)
                local opts
                case $verb in
                repart | publish | bless) opts=$(__abota_options "$cmd" "$verb") ;;
                *) opts=$(__abota_options "$cmd") ;;
                esac
                mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
                [[ ${COMPREPLY[*]} == *= ]] && compopt -o nospace 2>/dev/null
                return 0
                ;;
        esac
        case $verb in
        "") mapfile -t COMPREPLY < <(compgen -W "$(__abota_verbs "$cmd")" -- "$cur") ;;
        bless) mapfile -t COMPREPLY < <(compgen -W 'good bad indeterminate status' -- "$cur") ;;
        repart | publish) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        esac
        return 0
}
complete -F _abota abota
