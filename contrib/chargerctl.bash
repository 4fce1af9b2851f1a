# bash completion for chargerctl (install: copy to /usr/share/bash-completion/completions/chargerctl,
# or `source contrib/chargerctl.bash`; see docs/OPERATIONS.md)

_chargerctl() {
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    local commands="status unlock stop availability reset ocpp log-level sim limit schedule firmware logs certs"
    local sims="plug unplug ev-pause ev-resume tag fault clear meter-fail meter-restore bay
        ev-max house-load grid-meter-fail grid-meter-restore tamper"
    local faults="ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature
        InternalError OtherError OverCurrentFailure OverVoltage PowerMeterFailure
        PowerSwitchFailure ReaderFailure UnderVoltage WeakSignal"

    # the command is the first word that is not an option (or the --socket value)
    local i command="" at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) ((i++)) ;;
            -*) ;;
            *) command=${words[i]}; at=$i; break ;;
        esac
    done

    if [[ $prev == --socket ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    if [[ -z $command ]]; then
        COMPREPLY=($(compgen -W "$commands --socket --version --help" -- "$cur"))
        return
    fi
    local n=$((cword - at))  # position after the command: 1 = its first argument
    case $command in
        status | firmware | certs) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
        availability)
            case $n in
                1) COMPREPLY=($(compgen -W "station 1 2" -- "$cur")) ;;
                2) COMPREPLY=($(compgen -W "operative inoperative" -- "$cur")) ;;
            esac ;;
        reset) [[ $n == 1 ]] && COMPREPLY=($(compgen -W "soft hard" -- "$cur")) ;;
        ocpp) [[ $n == 1 ]] && COMPREPLY=($(compgen -W "get set" -- "$cur")) ;;
        limit)
            case $prev in
                --source) COMPREPLY=($(compgen -W "EMS SO Other" -- "$cur")) ;;
                --connector) ;;
                *) COMPREPLY=($(compgen -W "clear --connector --source" -- "$cur")) ;;
            esac ;;
        schedule)
            [[ $prev != --connector && $prev != --duration ]] &&
                COMPREPLY=($(compgen -W "--connector --duration --json" -- "$cur")) ;;
        logs)
            case $n in
                1) COMPREPLY=($(compgen -W "bundle" -- "$cur")) ;;
                2) COMPREPLY=($(compgen -f -- "$cur")) ;;
            esac ;;
        log-level) [[ $n == 1 ]] && COMPREPLY=($(compgen -W "debug info warning error" -- "$cur")) ;;
        sim)
            if [[ $n == 1 ]]; then
                COMPREPLY=($(compgen -W "$sims" -- "$cur"))
            elif [[ ${words[at+1]} == fault && $n == 3 ]]; then
                COMPREPLY=($(compgen -W "$faults" -- "$cur"))
            elif [[ ${words[at+1]} == bay && $n == 3 ]]; then
                COMPREPLY=($(compgen -W "occupied free" -- "$cur"))
            elif [[ ${words[at+1]} == tag && $n == 3 ]]; then
                COMPREPLY=($(compgen -W "--connector" -- "$cur"))
            fi ;;
    esac
}
complete -F _chargerctl chargerctl
