"""The first schema: messages, locations, findings, checkpoints, overrides, feedback, reviews.

Revision ID: 0001
"""

from alembic import op

from correspondence_guard.store import db as store

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = [
    store.messages,
    store.locations,
    store.findings,
    store.checkpoints,
    store.overrides,
    store.feedback,
    store.reviews,
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind, checkfirst=True)
