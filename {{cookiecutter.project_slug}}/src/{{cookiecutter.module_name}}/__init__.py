"""{{ cookiecutter.description | wordwrap(88) }}"""

__version__ = "0.1.0"
# The command's name: hints print `uv run {COMMAND} ...`, which runs as printed. Kept on a
# line of its own so that the code around it formats alike whatever the name's length.
COMMAND = "{{ cookiecutter.project_slug }}"
