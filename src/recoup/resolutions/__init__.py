"""Plans, settlements and waivers (还款计划、和解、减免): the approval matrix, signed agreements and
settlement certificates (结清证明)."""
