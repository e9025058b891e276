#!/usr/bin/env bash
# Examples of narrating text with narrator.
#
#   samples/read-aloud.sh [OUTPUT_DIR]
#
# Writes three MP3 files into OUTPUT_DIR (default: a new temporary folder) and
# prints where they are.  Run it from the repository root.
set -euo pipefail

story="$(dirname "$0")/the-reading-machine.md"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"

# 1. Narrate a Markdown file to MP3 with the default voice and settings.
narrator read "$story" -o "$out/story.mp3"

# 2. Choose the voice and the pacing: a little faster, longer breaths between sentences.
narrator read "$story" -o "$out/story-brisk.mp3" \
    --voice joe --speed 1.1 --sentence-pause 0.6

# 3. A pipeline: text on standard input ("-"), MP3 on standard output ("-o -").
printf '# A note\n\nNarrator reads from pipes too. Dr. Anand left at 5 p.m.\n' |
    narrator read - -o - --quiet > "$out/note.mp3"

ls -l "$out"/*.mp3
