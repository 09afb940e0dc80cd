"""Readable advisory notes for an officer or member checking a draft (colour on a terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from correspondence_guard.findings import Report, Severity, Verdict

_COLOUR = {Severity.HIGH: "bold red", Severity.MEDIUM: "yellow", Severity.LOW: "cyan"}
_VERDICT = {
    Verdict.CLEAR: ("green", "No protocol risks found."),
    Verdict.ADVISORY: ("cyan", "Advisory: worth a second look before sending."),
    Verdict.WARNING: ("yellow", "Warning: please review these notes before sending."),
    Verdict.BLOCK: ("bold red", "Do not send as it stands."),
}


def print_report(console: Console, report: Report) -> None:
    """Print one report: the verdict, then each note with what to do and where it comes from.
    On a terminal, each note is a panel; piped or redirected, plain lines that never wrap."""
    if not console.is_terminal:
        print_plain(console, report)
        return
    colour, headline = _VERDICT[report.verdict]
    console.print(Text(report.source, style="bold"), Text(f"  {headline}", style=colour))
    for finding in report.findings:
        body = Text()
        body.append(f"{finding.severity.value.upper()}  ", style=_COLOUR[finding.severity])
        body.append(finding.title + "\n", style="bold")
        body.append(f"Why: {finding.reason}\n")
        body.append("What to do: ", style="bold")
        body.append(finding.note + "\n")
        for ev in finding.evidence:
            body.append(f"Seen in {ev.where}: ", style="dim")
            body.append(ev.text + "\n", style="dim")
        body.append("Protocol: " + "; ".join(finding.citations), style="italic")
        console.print(Panel(body, title=escape(finding.rule), title_align="left", border_style=colour))
    for line in report.unchecked:
        console.print(Text("Not checked: ", style="bold yellow"), Text(line))
    console.print()


def print_plain(console: Console, report: Report) -> None:
    """The same report as plain lines, one thing per line, for a file, a pipe or a log."""
    lines = [f"{report.source}  {_VERDICT[report.verdict][1]}"]
    for finding in report.findings:
        lines += [
            f"  {finding.severity.value.upper()}  {finding.rule}: {finding.title}",
            f"    Why: {finding.reason}",
            f"    What to do: {finding.note}",
            *(f"    Seen in {ev.where}: {ev.text}" for ev in finding.evidence),
            f"    Protocol: {'; '.join(finding.citations)}",
        ]
    lines += [f"  Not checked: {line}" for line in report.unchecked]
    for line in lines:
        console.out(line, highlight=False)  # out(): no wrapping, no markup
    console.out("")
