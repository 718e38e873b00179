# Build the standalone nnstudio app folder on Windows with PyInstaller: dist\nnstudio\ holding
# nnstudio.exe (command line) and nnstudio-gui.exe (no console window).
#
#   powershell -ExecutionPolicy Bypass -File packaging\build.ps1
#   powershell -ExecutionPolicy Bypass -File packaging\build.ps1 -Python .venv\Scripts\python.exe -Clean
param(
    [string]$Python = "",
    [switch]$Clean
)
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
Set-Location $Root
$PyInstallerSpec = "pyinstaller>=6.10,<7"

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

if ($Python -eq "") {
    # A separate environment keeps the build reproducible and keeps PyInstaller out of the dev venv.
    if (-not (Test-Path "build\venv\Scripts\python.exe")) { Invoke-Checked "py" @("-3", "-m", "venv", "build\venv") }
    $Python = "build\venv\Scripts\python.exe"
    Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "--upgrade", "pip")
    Invoke-Checked $Python @("-m", "pip", "install", "--quiet", ".", $PyInstallerSpec)
} else {
    Invoke-Checked $Python @("-c", "import nnstudio")
    & $Python -c "import PyInstaller" 2>$null
    if ($LASTEXITCODE -ne 0) { Invoke-Checked $Python @("-m", "pip", "install", "--quiet", $PyInstallerSpec) }
}

if ($Clean) { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue "build\pyinstaller", "dist\nnstudio" }

Invoke-Checked $Python @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
    "--distpath", "dist", "--workpath", "build\pyinstaller", "packaging\nnstudio.spec")

$Bytes = (Get-ChildItem -Recurse "dist\nnstudio" | Measure-Object -Property Length -Sum).Sum
"app folder: dist\nnstudio ({0:N0} MB)" -f ($Bytes / 1MB)
Invoke-Checked "dist\nnstudio\nnstudio.exe" @("--version")
