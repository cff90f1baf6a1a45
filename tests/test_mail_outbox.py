"""The messages pipectl sends (pipectl.mail.outbox): a property test that the bytes written with the shared
headers folded once a run are exactly the standard library's."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy

from hypothesis import given
from hypothesis import strategies as st

from pipectl.mail import outbox

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Names and subjects as reps write them: Latin, Japanese, long ones that must be folded (and a word longer
# than a line).
_WORDS = st.sampled_from(["Hanako", "鈴木", "花子", "株式会社ACME", "Müller", "O'Brien", "a note", "about", "x" * 90])
_TEXT = st.lists(_WORDS, min_size=1, max_size=12).map(" ".join)
_BODY = st.lists(st.one_of(_TEXT, st.just(""), st.just("y" * 1200)), max_size=6).map("\n".join)
_SENDERS = st.sampled_from(["山田 太郎 <taro@example.co.jp>", "Taro Yamada <taro@example.co.jp>", "taro@example.co.jp"])


@given(_SENDERS, _TEXT, _TEXT, _BODY, st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_as_bytes_is_the_standard_librarys_bytes(
    sender: str, name: str, subject: str, body: str, campaign: bool, linesep: str
) -> None:
    # twice, so that the second message's shared headers come from the run's cache
    for number in range(2):
        message = outbox.build(sender, (name, f"lead{number}@client.example"), subject, body, NOW, campaign)
        assert outbox.as_bytes(message, linesep) == message.as_bytes(policy=policy.default.clone(linesep=linesep))
