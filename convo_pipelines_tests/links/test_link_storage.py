"""How fresh storage's index builds are shared among connections (the builds themselves are tested end to
end by the first-fill tests of test_assets_links)."""

from convo_pipelines.defs.links.link_storage import LinkIndex, shares_by_columns


def _index(name: str, columns: int) -> tuple[str, LinkIndex]:
    return name, LinkIndex(name, "USING btree (x)", False, None, "", columns)


def test_index_builds_are_shared_widest_first_to_the_lightest_connection() -> None:
    indexes = [_index("pkey", 1), _index("pair_key", 2), _index("conversation_idx", 1), _index("newest_idx", 3)]

    shares = shares_by_columns(indexes, 2)

    assert [[name for name, _ in share] for share in shares] == [["newest_idx", "conversation_idx"], ["pair_key", "pkey"]]


def test_more_connections_than_indexes_leaves_shares_empty_and_loses_none() -> None:
    indexes = [_index("pkey", 1), _index("pair_key", 2)]

    shares = shares_by_columns(indexes, 3)

    assert sorted(name for share in shares for name, _ in share) == ["pair_key", "pkey"]
    assert sum(1 for share in shares if not share) == 1
