# Sourced by the bench/ scripts in bash (not run): one shape for their
# arguments. A bad one gets one line naming it and its value, prefixed with
# the script's name, and exit 2, before anything is installed, built or run;
# -h or --help prints the script's header comment and exits 0.
bench=bench/${0##*/}
# Where the user ran the script from: the scripts cd to the repository
# after, so a relative path they give is resolved from here.
bench_cwd=$PWD

# bad MESSAGE: the one error line; exit 2 (usage).
bad() { echo "$bench: $*" >&2; exit 2; }

# help_if_asked ARG...: with -h or --help among them, the usage and exit 0. The
# usage is the header comment: line 2 to the first line not a comment.
help_if_asked() {
  local a
  for a; do
    case $a in -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
      exit 0 ;;
    esac
  done
}

# no_more ARG...: refuses the first argument left over.
no_more() { [ $# -eq 0 ] || bad "unknown argument \"$1\" (see $bench --help)"; }

# whole NAME VALUE [LEAST]: VALUE must be a whole number >= LEAST (1).
whole() {
  [[ $2 =~ ^[0-9]{1,18}$ ]] && (( 10#$2 >= ${3:-1} )) ||
    bad "$1 must be a whole number >= ${3:-1}, got \"$2\""
}

# absolute PATH: PATH resolved from where the user ran the script.
absolute() { case $1 in /*) echo "$1" ;; *) echo "$bench_cwd/$1" ;; esac; }

# program NAME PATH: PATH made absolute, which must be an executable file.
program() {
  local p
  p=$(absolute "$2")
  [ -f "$p" ] && [ -x "$p" ] || bad "$1 must be an executable file, got \"$2\""
  echo "$p"
}
