"""Chinese for the workspace on a phone and the label management in the workspace (issue 13);
the lead merges these."""

ZH = {
    # The phone layout (layout.js)
    "Back to the conversations": "返回会话列表",
    "Back to the conversation": "返回会话",
}
