# vagrant_machines.rb - evaluates the Vagrantfile with a stand-in for Vagrant; prints its machines and their provisioners.
#
#   LAB=ha ruby tests/hosting/vagrant_machines.rb Vagrantfile
#   machine db1
#   provision db1 base /shoplab/lab/provision-base.sh /shoplab
#   ...
# Every call on the configuration is recorded, not checked: what Vagrant itself accepts is
# `vagrant validate`'s job (tests/hosting/test_vagrant.sh runs it where Vagrant is installed).
# VAGRANT_MACHINES_DUMP=DIR: each provisioner also as files, verbatim (scripts/test-vagrant-boot.sh
# runs them): DIR/MACHINE.N.script (the inline script, or the path's file name) and DIR/MACHINE.N.env
# (its env, one NAME=VALUE a line), N counting from 1 in the order Vagrant runs them; DIR/MACHINE.hostname
# and DIR/MACHINE.ip (its private network's address, when it has one).
class Recorder
  def initialize(machine, out)
    @machine = machine
    @out = out
  end

  def define(name, *_args, **_kw)
    @out << "machine #{name}"
    sub = Recorder.new(name.to_s, @out)
    yield sub if block_given?
    sub
  end

  def provision(name, *_args, **kw)
    what = kw[:inline] || kw[:path] || ""
    env = (kw[:env] || {}).map { |k, v| "#{k}=#{v}" }.join(" ")
    @out << "provision #{@machine} #{name} #{what.to_s.gsub(/\s+/, ' ').strip}"
    @out << "env #{@machine} #{env}" unless env.empty?
    dump(name, kw)
    self
  end

  def dump(name, kw)
    dir = ENV["VAGRANT_MACHINES_DUMP"]
    return if dir.nil? || dir.empty?
    n = Dir.glob(File.join(dir, "#{@machine}.*.script")).size + 1
    base = File.join(dir, "#{@machine}.#{n}")
    File.write("#{base}.script", (kw[:inline] || kw[:path] || "").to_s)
    File.write("#{base}.env", (kw[:env] || {}).map { |k, v| "#{k}=#{v}\n" }.join)
    File.write("#{base}.name", "#{name}\n")
  end

  def method_missing(name, *args, **kw)
    dir = ENV["VAGRANT_MACHINES_DUMP"]
    if dir && !dir.empty?
      File.write(File.join(dir, "#{@machine}.hostname"), "#{args[0]}\n") if name == :hostname=
      File.write(File.join(dir, "#{@machine}.ip"), "#{kw[:ip]}\n") if name == :network && args[0] == "private_network"
    end
    yield Recorder.new(@machine, @out) if block_given?
    self
  end

  def respond_to_missing?(*_args)
    true
  end
end

module Vagrant
  def self.configure(_version)
    out = []
    yield Recorder.new("default", out)
    puts out
  end
end

load ARGV.fetch(0, "Vagrantfile")
