"""Chinese for attachments (upload errors, the widget's and the workspace's attach UI, the
merchant's limits in the back office); the lead merges these."""

ZH = {
    # Merchant settings (back office)
    "Attachments": "附件",
    "Images (JPEG, PNG, GIF, WebP)": "图片（JPEG、PNG、GIF、WebP）",
    "PDF": "PDF",
    "Office documents (Word, Excel, PowerPoint, OpenDocument)": "办公文档（Word、Excel、PowerPoint、OpenDocument）",
    "Plain text and CSV": "纯文本和 CSV",
    "Archives (ZIP, 7z, RAR, gzip)": "压缩包（ZIP、7z、RAR、gzip）",
    "Audio and video (MP3, MP4, WebM, Ogg)": "音频和视频（MP3、MP4、WebM、Ogg）",
    "%(item)s: not one of %(known)s": "%(item)s：不是 %(known)s 之一",
    "largest attachment (MB)": "附件大小上限（MB）",
    "Files larger than this are refused. The server's ATTACHMENT_MAX_MB caps it.":
        "超过此大小的文件会被拒绝。服务器的 ATTACHMENT_MAX_MB 为其上限。",
    "allowed attachment types": "允许的附件类型",
    "Comma-separated: image, pdf, office, text, archive, media. Empty turns attachments off. The type is read from the file's content, not its name.":
        "以逗号分隔：image、pdf、office、text、archive、media。留空即关闭附件。类型根据文件内容判断，而不是文件名。",
    # The attachment row
    "attachment": "附件",
    "attachments": "附件",
    "Image": "图片",
    "File": "文件",
    "type": "类型",
    "content type": "内容类型",
    "file name": "文件名",
    "size (bytes)": "大小（字节）",
    # Upload refusals
    "The file is empty.": "文件是空的。",
    "The file is larger than %(mb)s MB.": "文件超过 %(mb)s MB。",
    "This type of file cannot be sent here.": "无法发送这种类型的文件。",
    "The image is damaged or incomplete.": "图片已损坏或不完整。",
    "The image is too large (more than %(mp)s megapixels).": "图片太大（超过 %(mp)s 百万像素）。",
    "Attachments are turned off.": "附件功能已关闭。",
    "Too many uploads; try again later.": "上传次数过多，请稍后再试。",
    # Inbox line of an attachment message
    "[Image] %(name)s": "[图片] %(name)s",
    "[File] %(name)s": "[文件] %(name)s",
    # The bot hands an image or file without words over to a person
    "the visitor sent a file the bot cannot read": "访客发送了机器人无法识别的文件",
    # (Reply emails use the inbox line's "[Image] %(name)s" and "[File] %(name)s" too.)
    # Widget
    "Attach a file or image": "发送文件或图片",
    "Drop files here to send them": "将文件拖到这里发送",
    "Uploading…": "上传中…",
    "Upload failed. Tap to retry.": "上传失败，点击重试。",
    "Tap to remove.": "点击移除。",
    "Open full size": "查看原图",
    "Download": "下载",
    # Workspace
    "Attach": "发送文件",
    "Send an image or file (or drop it here, or paste a screenshot)": "发送图片或文件（也可拖到此处或粘贴截图）",
    "Remove": "移除",
}
