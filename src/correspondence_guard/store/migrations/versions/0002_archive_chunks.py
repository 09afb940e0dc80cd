"""Archive review checkpoints: one row per chunk of an archive run that is done.

Revision ID: 0002
"""

from alembic import op

from correspondence_guard.store import db as store

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    store.archive_chunks.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    store.archive_chunks.drop(op.get_bind(), checkfirst=True)
