"""Email addresses as the mail readers keep them and as sync compares them.

Readers keep an address as written, lowercased (``Taro@Example.co.jp`` -> ``taro@example.co.jp``);
:func:`comparable` is the form two addresses are compared in (SPEC §12: case-insensitively and
without a ``+tag``), so ``taro+crm@example.co.jp`` written by a lead matches the lead's
``taro@example.co.jp``.
"""

from __future__ import annotations


def comparable(address: str) -> str:
    """``address`` as compared with another: trimmed, without ``<>``, lowercased, the local part's ``+tag``
    dropped (``Taro+News@Example.com`` -> ``taro@example.com``). Idempotent."""
    text = address.strip().strip("<>").strip().lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    base = local.split("+", 1)[0]
    # "+tag@x" has no base: keep it whole rather than turn it into "@x", which would match any "@x".
    return f"{base or local}@{domain}"
