"""Chinese for the workspace on a phone and the label management in the workspace (issue 13);
the lead merges these."""

ZH = {
    # The phone layout (layout.js)
    "Back to the conversations": "返回会话列表",
    "Back to the conversation": "返回会话",
    # Label views and managing labels (views.js, labeladmin.js)
    "Manage labels": "管理标签",
    "Every agent applies labels to conversations; owners and admins manage them here. Deleting a label takes it off every conversation.": "所有客服都可以给会话加标签；所有者和管理员在这里管理标签。删除标签会把它从所有会话上移除。",
    "No labels yet.": "还没有标签。",
    "New label, e.g. VIP": "新标签，例如 VIP",
    "Colour": "颜色",
    "Colour of %s": "%s 的颜色",
    "Delete “%s” from every conversation?": "确定从所有会话删除“%s”？",
    "Only owners and admins manage labels.": "只有所有者和管理员可以管理标签。",
    "Could not save the label. Try again.": "标签保存失败，请重试。",
    "There is already a label with this name.": "已有同名标签。",
    "This label no longer exists: someone deleted it.": "该标签已不存在：已被他人删除。",
    "That label no longer exists: someone deleted it.": "该标签已不存在：已被他人删除。",
    "No labels yet. Owners and admins add them with “Manage labels” above the inbox.": "还没有标签。所有者和管理员可在会话列表上方的“管理标签”中添加。",
}
