"""Legal: legal matters and their stages, limitation periods (诉讼时效), write-offs (核销) and debt sales
(个贷不良批量转让). See docs/legal.md."""
